"""python:package.module:factory candidates: any object with the Encoder interface, ranked
like every other candidate."""

import sys
import textwrap

import numpy as np
import pytest

from modelscout import build_spec, rank
from modelscout.backends.base import LoadOptions
from modelscout.catalog.candidate import describe, resolve_candidate
from modelscout.errors import UserError

FACTORY = '''
import numpy as np
import torch

from modelscout.backends.base import LoadOptions


class BagOfBytes:
    """A tiny torch encoder: mean of byte embeddings, then a linear layer."""

    modality = "text"
    max_length = 16
    meta = {"params": 0, "license": "mit", "embedding_dim": 8, "modality": "text"}

    def __init__(self, seed: int) -> None:
        torch.manual_seed(seed)
        self.torch_module = torch.nn.Sequential(
            torch.nn.EmbeddingBag(256, 16, mode="mean"), torch.nn.Linear(16, 8)
        ).eval()
        self.meta = {**self.meta, "params": sum(p.numel() for p in self.torch_module.parameters())}

    def preprocess(self, texts):
        ids = [list(t.encode()[: self.max_length]) or [0] for t in texts]
        offsets = torch.tensor([0, *np.cumsum([len(i) for i in ids])[:-1]])
        return torch.tensor([b for i in ids for b in i]), offsets

    def forward(self, batch):
        with torch.inference_mode():
            return self.torch_module[1](self.torch_module[0](*batch)).numpy()

    def input_lengths(self, texts):
        return np.array([len(t.encode()) for t in texts])


def make(options: LoadOptions) -> BagOfBytes:
    return BagOfBytes(options.seed)


make.meta = {"license": "mit", "embedding_dim": 8, "modality": "text"}


def plain():
    return BagOfBytes(0)


def not_an_encoder():
    return object()
'''


@pytest.fixture
def factory_module(tmp_path, monkeypatch):
    """A module ``tiny_factories`` on sys.path, written here, that builds tiny torch models."""
    (tmp_path / "tiny_factories.py").write_text(textwrap.dedent(FACTORY))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "tiny_factories"
    sys.modules.pop("tiny_factories", None)


def test_a_python_entry_point_resolves_with_a_revision_from_its_file(factory_module, tmp_path):
    candidate = resolve_candidate(f"python:{factory_module}:make")
    assert (candidate.source, candidate.backend) == ("python", "python")
    assert candidate.revision and candidate.downloaded
    before = candidate.key
    (tmp_path / "tiny_factories.py").write_text(FACTORY + "\n# edited\n")
    assert resolve_candidate(f"python:{factory_module}:make").key != before
    meta = describe(candidate)
    assert (meta.license, meta.embedding_dim, meta.modality) == ("mit", 8, "text")


def test_a_malformed_or_missing_entry_point_is_a_user_error(factory_module):
    with pytest.raises(UserError, match="python:package.module:factory"):
        resolve_candidate("python:tiny_factories")
    with pytest.raises(UserError, match="no module"):
        resolve_candidate("python:no_such_module_here:make")


def test_the_factory_gets_the_load_options_when_it_takes_them(factory_module):
    from modelscout.backends import get_backend

    load = get_backend("python").load
    candidate = resolve_candidate(f"python:{factory_module}:make")
    one = load(candidate, describe(candidate), LoadOptions(seed=1))
    again = load(candidate, describe(candidate), LoadOptions(seed=1))
    other = load(candidate, describe(candidate), LoadOptions(seed=2))
    texts = ["a short text", "another one"]
    np.testing.assert_array_equal(
        one.forward(one.preprocess(texts)), again.forward(again.preprocess(texts))
    )
    assert not np.allclose(
        one.forward(one.preprocess(texts)), other.forward(other.preprocess(texts))
    )
    plain = resolve_candidate(f"python:{factory_module}:plain")
    assert load(plain, describe(plain), LoadOptions()).forward.__self__.max_length == 16


def test_python_candidates_are_ranked_and_a_non_encoder_fails_with_its_reason(
    small_csv, factory_module, tmp_path
):
    spec = build_spec(
        data=small_csv,
        candidates=[f"python:{factory_module}:make", f"python:{factory_module}:not_an_encoder"],
        baseline=False,
        max_samples=60,
        output=tmp_path,
    )
    rows = {row.outcome.candidate.id: row for row in rank(spec).rows}
    assert rows[f"python:{factory_module}:make"].status == "ranked"
    good = rows[f"python:{factory_module}:make"].outcome
    for name in ("probe.macro_f1", "logme", "latency.p50_ms@1", "length.truncated_fraction"):
        assert good.measurements[name].value is not None, name
    assert rows[f"python:{factory_module}:not_an_encoder"].status == "failed"
    bad = rows[f"python:{factory_module}:not_an_encoder"].outcome
    assert "without modality, preprocess, forward" in bad.reason and "\n" not in bad.reason

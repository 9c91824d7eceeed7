"""Shared fixtures: tiny real models built from configs, small real datasets, an isolated store."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from browser import Browser  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# A synthetic multilingual example (4 languages, a language column) for the tests.
EXAMPLE = ROOT / "tests" / "data" / "support_tickets.csv"
SHARED = ROOT.parent / "shared"
CARD = """---
license: apache-2.0
language:
- en
- es
---
# tiny test model

## Limitations
Random weights.
"""


# the environment of a RunResult built in a test from made-up outcomes
ENVIRONMENT = {
    "modelscout": "0",
    "python": "3",
    "packages": {},
    "machine": {"cpu": "x", "cores": 1, "platform": "p"},
}


def build_tiny_bert(
    folder: Path,
    texts: list[str],
    *,
    layers: int = 2,
    sentence_transformers=False,
    seed: int = 0,
    head_labels: int | None = None,
) -> Path:
    """A real (randomly initialised) BERT with a word-level vocabulary from ``texts``;
    with ``head_labels``, a BertForSequenceClassification with that many source labels."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizer

    torch.manual_seed(seed)
    words = sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words[:3000]]
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(vocab)})
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=head_labels or 2,
    )
    (BertForSequenceClassification if head_labels else BertModel)(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "README.md").write_text(CARD, encoding="utf-8")
    if sentence_transformers:
        (folder / "1_Pooling").mkdir()
        (folder / "1_Pooling" / "config.json").write_text(
            json.dumps({"word_embedding_dimension": 32, "pooling_mode_mean_tokens": True})
        )
        (folder / "modules.json").write_text(
            json.dumps(
                [
                    {
                        "idx": 0,
                        "name": "0",
                        "path": "",
                        "type": "sentence_transformers.models.Transformer",
                    },
                    {
                        "idx": 1,
                        "name": "1",
                        "path": "1_Pooling",
                        "type": "sentence_transformers.models.Pooling",
                    },
                ]
            )
        )
        (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 48}))
    return folder


@pytest.fixture(scope="session")
def example_frame() -> pd.DataFrame:
    return pd.read_csv(EXAMPLE)


@pytest.fixture(scope="session")
def small_csv(tmp_path_factory, example_frame) -> Path:
    """120 rows of the built-in example: 4 classes x 30, several languages."""
    keep = example_frame["label"].value_counts().index[:4]
    frame = (
        example_frame[example_frame["label"].isin(keep)].groupby("label", group_keys=False).head(30)
    )
    path = tmp_path_factory.mktemp("data") / "small.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory, example_frame) -> Path:
    return build_tiny_bert(
        tmp_path_factory.mktemp("tiny") / "tiny-bert", example_frame["text"].tolist()
    )


@pytest.fixture(scope="session")
def tiny_st(tmp_path_factory, example_frame) -> Path:
    return build_tiny_bert(
        tmp_path_factory.mktemp("tiny") / "tiny-st",
        example_frame["text"].tolist(),
        layers=3,
        sentence_transformers=True,
        seed=1,
    )


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory, example_frame) -> Path:
    return build_tiny_bert(
        tmp_path_factory.mktemp("tiny") / "tiny-classifier",
        example_frame["text"].tolist(),
        head_labels=5,
        seed=2,
    )


@pytest.fixture(autouse=True)
def isolated_store(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "store.sqlite"
    monkeypatch.setenv("MODELSCOUT_STORE", str(path))
    return path


@pytest.fixture(scope="session")
def baseline_run(tmp_path_factory, small_csv) -> tuple[Path, Path]:
    """One real ``modelscout rank --data small.csv`` (the baseline only), run once for the
    session through the CLI on a store of its own: (its store, its output folder). Its timings
    are then marked settled, so that a test that copies the store (``warm_store``) replays the
    baseline's measurements instead of timing it again: for the tests whose point is what the
    CLI does around a run (outputs, previous/, compare), not the measuring."""
    from typer.testing import CliRunner

    from modelscout.cli import app

    folder = tmp_path_factory.mktemp("baseline-run")
    store, out = folder / "store.sqlite", folder / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELSCOUT_STORE", str(store))
        args = ["rank", "--data", str(small_csv), "--output", str(out), "--quiet"]
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert rewrite_timings(store, reliable=True, p50_ci_relative=0.0) > 0
    return store, out


@pytest.fixture
def warm_store(baseline_run, isolated_store) -> Path:
    """This test's store, holding the baseline's measurements of ``baseline_run``."""
    source, copy = sqlite3.connect(baseline_run[0]), sqlite3.connect(isolated_store)
    with copy:
        source.backup(copy)
    source.close()
    copy.close()
    return isolated_store


def rewrite_timings(store: Path, like: str = "%latency.p%", **changes) -> int:
    """Update the detail of every stored latency measurement (real SQLite, as the store
    keeps them) whose name is LIKE ``like``; returns how many rows changed. E.g.
    ``reliable=True, p50_ci_relative=0.0`` makes every stored timing settled, so that a rerun
    replays it whatever the machine's load was while the test measured it."""
    db = sqlite3.connect(store)
    with db:
        query = "SELECT key, detail FROM measurements WHERE name LIKE ?"
        rows = db.execute(query, (like,))
        updates = [(json.dumps({**json.loads(d), **changes}), k) for k, d in rows.fetchall() if d]
        db.executemany("UPDATE measurements SET detail = ? WHERE key = ?", updates)
    db.close()
    return len(updates)


# A ViT small enough to build and run in a test: the image tests share it (tests/test_vision.py,
# tests/test_image_run.py).
SMALL_VIT = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "image_size": 32,
    "patch_size": 8,
}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium for the HTML report tests (skipped where it is not installed)."""
    started = Browser.start(tmp_path_factory.mktemp("chromium-profile"))
    if started is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    yield started
    started.close()


@pytest.fixture(scope="session")
def tiny_vit(tmp_path_factory) -> Path:
    """A tiny random ViT (``SMALL_VIT``: 2 layers, 32 wide, 32 x 32 inputs) and its image
    processor, saved as a model folder."""
    import torch
    import transformers

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("models") / "tiny-vit"
    transformers.ViTModel(transformers.ViTConfig(**SMALL_VIT)).save_pretrained(folder)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder

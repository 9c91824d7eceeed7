"""Hub candidates against a Hub on loopback (tests/fake_hub.py) serving tiny real models:
metadata first, constraints before any download, revisions, and plain errors."""

from __future__ import annotations

import json
import shutil

import pytest
from fake_hub import FakeHub

from modelscout import build_spec, rank
from modelscout.catalog.candidate import describe, download, resolve_candidate
from modelscout.catalog.meta import read_folder_meta
from modelscout.errors import UserError
from modelscout.report import build_results

REMOTE_CODE_CONFIG = {"auto_map": {"AutoModel": "modeling_tiny.TinyModel"}}
MODELING_TINY = b"""from transformers import BertModel


class TinyModel(BertModel):
    pass
"""


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A FakeHub that huggingface_hub talks to: an empty cache, the Hub allowed, no token."""
    import huggingface_hub.constants as constants

    with FakeHub() as fake:
        cache = tmp_path / "hf-cache"
        for name, value in {
            "ENDPOINT": fake.url,
            "HUGGINGFACE_CO_URL_TEMPLATE": fake.url + "/{repo_id}/resolve/{revision}/{filename}",
            "HF_HUB_CACHE": str(cache),
            "HF_HUB_OFFLINE": False,
        }.items():
            monkeypatch.setattr(constants, name, value)
        # For the model pass's worker processes, which read the environment afresh.
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        monkeypatch.setenv("HF_HUB_CACHE", str(cache))
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        yield fake


def with_config(tmp_path, folder, name, **config_updates):
    """A copy of ``folder`` with ``config.json`` updated."""
    copy = tmp_path / name
    shutil.copytree(folder, copy)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, **config_updates}))
    return copy


def hub_rows(data, tmp_path, *candidates: str, **settings) -> list[dict]:
    """results.json's candidate rows of a small run of ``candidates`` (no baseline)."""
    spec = build_spec(
        data=data,
        candidates=list(candidates),
        baseline=False,
        max_samples=60,
        folds=2,
        batch_sizes=[1],  # these tests check statuses and metadata, not timings
        latency_budget_s=0.1,
        output=tmp_path / "out",
        **settings,
    )
    return build_results(rank(spec))["candidates"]


def test_hub_model_is_described_from_its_metadata_before_any_download(hub, tiny_bert):
    from transformers import AutoModel

    sha = hub.add("acme/tiny-bert", tiny_bert, card={"license": "mit", "language": ["en", "fr"]})
    candidate = resolve_candidate("acme/tiny-bert")
    meta = describe(candidate)
    assert (candidate.source, candidate.path, candidate.revision) == ("hub", None, sha)
    assert meta.params == AutoModel.from_pretrained(tiny_bert).num_parameters()
    assert (meta.license, meta.languages, meta.author) == ("mit", ["en", "fr"], "acme")
    assert (meta.weight_format, meta.weight_files) == ("safetensors", ["model.safetensors"])
    served = hub.repos["acme/tiny-bert"].commits[sha]
    assert meta.disk_size_bytes == sum(len(data) for data in served.values())
    assert meta.tokenizer_files == read_folder_meta(tiny_bert).tokenizer_files != []
    assert not meta.needs_remote_code
    assert hub.downloads("acme/tiny-bert") == []


def test_download_fetches_the_snapshot_and_the_files_describe_it_alike(hub, tiny_bert):
    sha = hub.add("acme/tiny-bert", tiny_bert, card={"license": "mit"})
    candidate = resolve_candidate("acme/tiny-bert")
    before = describe(candidate)
    fetched = download(candidate, allow_pickle=False, trust_remote_code=False)
    after = describe(fetched)
    assert fetched.path.name == sha == fetched.revision and fetched.key == candidate.key
    same = ("params", "disk_size_bytes", "license", "weight_files", "tokenizer_files")
    assert [getattr(after, name) for name in same] == [getattr(before, name) for name in same]
    assert sorted(hub.downloads("acme/tiny-bert")) == sorted(
        p.name for p in tiny_bert.iterdir() if p.is_file()
    )
    hub.requests.clear()  # the next resolve finds the snapshot in the cache: no request at all
    assert resolve_candidate("acme/tiny-bert").path == fetched.path and hub.requests == []


def test_rank_rejects_on_hub_metadata_without_downloading_and_ranks_the_accepted(
    hub, tiny_bert, tiny_st, small_csv, tmp_path
):
    hub.add("acme/mit-bert", tiny_bert, card={"license": "mit"})
    hub.add("acme/apache-st", tiny_st, card={"license": "apache-2.0", "language": ["en"]})
    licences = {"licenses": ["apache-2.0"]}
    found = hub_rows(small_csv, tmp_path, "acme/mit-bert", "acme/apache-st", constraints=licences)
    rows = {row["id"]: row for row in found}
    assert rows["acme/mit-bert"]["status"] == "rejected"
    assert "licence mit" in rows["acme/mit-bert"]["reason"]
    assert rows["acme/apache-st"]["status"] == "ranked"
    assert hub.downloads("acme/mit-bert") == []
    assert "model.safetensors" in hub.downloads("acme/apache-st")


def test_layers_variant_of_a_hub_model_is_sized_once_downloaded(hub, tiny_st, small_csv, tmp_path):
    hub.add("acme/tiny-st", tiny_st, card={"license": "apache-2.0"})
    full = describe(resolve_candidate("acme/tiny-st")).params
    limit = {"max_params": full - 1}
    (row,) = hub_rows(small_csv, tmp_path, "acme/tiny-st+layers:1", constraints=limit)
    assert row["status"] == "ranked", row["reason"]
    assert row["meta"]["params"] < full and row["meta"]["layers"] == 1


def test_hub_metadata_of_the_wrong_type_is_unknown_and_the_run_ranks_the_model(
    hub, tiny_bert, small_csv, tmp_path
):
    hub.add("acme/odd", tiny_bert, card={"language": 5, "license": ["mit"], "base_model": 7})
    served = hub.repos["acme/odd"].info
    served["config"] = {"architectures": "Bert", "model_type": 3, "hidden_size": "big"}
    served["config"]["num_hidden_layers"] = "two"
    meta = describe(resolve_candidate("acme/odd"))
    odd = ("languages", "embedding_dim", "layers", "architecture", "model_type", "base_model")
    assert [getattr(meta, name) for name in odd] == [None] * len(odd)
    assert meta.license == "mit"  # a list of one name is the name
    (row,) = hub_rows(small_csv, tmp_path, "acme/odd")
    assert row["status"] == "ranked", row["reason"]
    assert row["meta"]["languages"] is None and row["meta"]["embedding_dim"] == 32


def test_a_folder_whose_config_and_card_hold_the_wrong_types_reads_them_as_unknown(
    tiny_bert, tmp_path
):
    folder = with_config(tmp_path, tiny_bert, "odd", hidden_size="big", model_type=["bert"])
    (folder / "README.md").write_text("---\nlanguage: 5\npipeline_tag: [a]\n---\n# odd\n")
    meta = read_folder_meta(folder)
    odd = ("languages", "embedding_dim", "model_type", "pipeline_tag")
    assert [getattr(meta, name) for name in odd] == [None] * len(odd)
    assert meta.layers == read_folder_meta(tiny_bert).layers > 0


def test_revision_selects_a_branch_tag_or_commit(hub, tiny_bert, tiny_st):
    old = hub.add("acme/tiny", tiny_bert, refs=("v1.0",))
    new = hub.add("acme/tiny", tiny_st, refs=("main",))
    tagged = resolve_candidate("acme/tiny@v1.0+layers:1")
    assert (tagged.id, tagged.revision, tagged.parent) == (
        "acme/tiny@v1.0+layers:1",
        old,
        "acme/tiny@v1.0",
    )
    assert describe(tagged).params is None  # the kept layers' size is known from the files
    assert resolve_candidate("acme/tiny").revision == new
    assert resolve_candidate(f"acme/tiny@{old}").revision == old
    fetched = download(tagged, allow_pickle=False, trust_remote_code=False)
    assert fetched.revision == old and describe(fetched).layers == 1
    hub.requests.clear()  # the tag is now in the cache: found without the Hub
    assert resolve_candidate("acme/tiny@v1.0").path == fetched.path and hub.requests == []


@pytest.mark.parametrize(
    ("setup", "named", "fragment"),
    [
        ({"gated": True}, "acme/tiny", "acme/tiny is gated on the Hub: accept its terms at"),
        ({"private": True}, "acme/tiny", "private on the Hub or does not exist"),
        ({}, "acme/other", "no such model on the Hub"),
        ({}, "acme/tiny@no-such-tag", "has no revision 'no-such-tag'"),
    ],
)
def test_hub_refusals_are_plain_errors(hub, tiny_bert, setup, named, fragment):
    hub.add("acme/tiny", tiny_bert, **setup)
    with pytest.raises(UserError, match=fragment) as error:
        resolve_candidate(named)
    assert "\n" not in str(error.value) and "unknown candidate 'acme/tiny'" not in str(error.value)
    assert hub.downloads("acme/tiny") == []


def test_gated_error_names_the_login_step(hub, tiny_bert):
    hub.add("acme/tiny", tiny_bert, gated=True)
    with pytest.raises(UserError) as error:
        resolve_candidate("acme/tiny")
    assert f"{hub.url}/acme/tiny" in str(error.value) and "hf auth login" in str(error.value)


def test_unreachable_hub_is_a_plain_error(hub, monkeypatch):
    import huggingface_hub.constants as constants

    hub.__exit__()  # nothing listens on its port any more
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    with pytest.raises(UserError, match="cannot reach the Hub at .* to fetch acme/tiny"):
        resolve_candidate("acme/tiny")


def test_offline_hub_id_not_in_the_cache_stays_unknown(hub, tiny_bert, monkeypatch):
    import huggingface_hub.constants as constants

    hub.add("acme/tiny", tiny_bert)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(UserError, match="unknown candidate 'acme/tiny'.*HF_HUB_OFFLINE"):
        resolve_candidate("acme/tiny")
    assert hub.requests == []


def test_remote_code_model_is_refused_without_opt_in_and_nothing_is_downloaded(
    hub, tiny_bert, small_csv, tmp_path
):
    folder = with_config(tmp_path, tiny_bert, "custom", **REMOTE_CODE_CONFIG)
    hub.add("acme/custom", folder, extra_files={"modeling_tiny.py": MODELING_TINY})
    spec = build_spec(
        data=small_csv, candidates=["acme/custom"], baseline=False, output=tmp_path / "out"
    )
    (row,) = build_results(rank(spec))["candidates"]
    assert row["status"] == "failed" and "--trust-remote-code" in row["reason"]
    assert hub.downloads("acme/custom") == []


def test_remote_code_opt_in_downloads_the_code_files_and_ranks(hub, tiny_bert, small_csv, tmp_path):
    folder = with_config(tmp_path, tiny_bert, "custom", **REMOTE_CODE_CONFIG)
    hub.add("acme/custom", folder, extra_files={"modeling_tiny.py": MODELING_TINY})
    (row,) = hub_rows(small_csv, tmp_path, "acme/custom", trust_remote_code=True)
    assert row["status"] == "ranked", row["reason"]
    assert row["meta"]["needs_remote_code"] and "modeling_tiny.py" in hub.downloads("acme/custom")


def test_pickle_weights_are_downloaded_only_on_opt_in(hub, tiny_bert, tmp_path):
    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_bert, folder)
    weights = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save(weights, folder / "pytorch_model.bin")
    hub.add("acme/pickled", folder)
    candidate = resolve_candidate("acme/pickled")
    assert describe(candidate).weight_format == "pickle"
    safe = download(candidate, allow_pickle=False, trust_remote_code=False)
    assert not (safe.path / "pytorch_model.bin").exists()
    opted = download(
        resolve_candidate("acme/pickled", allow_pickle=True),
        allow_pickle=True,
        trust_remote_code=False,
    )
    assert (opted.path / "pytorch_model.bin").is_file()


def test_rank_on_a_gated_hub_model_is_one_line_and_exit_code_2(hub, tiny_bert, small_csv):
    from typer.testing import CliRunner

    from modelscout.cli import app

    hub.add("acme/tiny", tiny_bert, gated=True)
    result = CliRunner().invoke(app, ["rank", "--data", str(small_csv), "-c", "acme/tiny"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "acme/tiny is gated on the Hub" in lines[0]


def test_profile_downloads_a_hub_model_then_times_it(hub, tiny_bert, small_csv):
    from typer.testing import CliRunner

    from modelscout.cli import app

    hub.add("acme/tiny", tiny_bert)
    args = ["profile", "acme/tiny@main", "--data", str(small_csv), "--json", "--batch-size", "1"]
    result = CliRunner().invoke(app, [*args, "--max-samples", "40"])
    assert result.exit_code == 0, result.output
    profiled = json.loads(result.stdout)
    assert profiled["candidate"] == "acme/tiny@main" and profiled["batches"]["1"]["p50_ms"] > 0
    assert "model.safetensors" in hub.downloads("acme/tiny")


def test_profile_refuses_a_model_that_needs_its_code_before_downloading_it(
    hub, tiny_bert, small_csv, tmp_path
):
    from typer.testing import CliRunner

    from modelscout.cli import app

    folder = with_config(tmp_path, tiny_bert, "custom", **REMOTE_CODE_CONFIG)
    hub.add("acme/custom", folder, extra_files={"modeling_tiny.py": MODELING_TINY})
    args = ["profile", "acme/custom", "--data", str(small_csv), "--batch-size", "1"]
    result = CliRunner().invoke(app, [*args, "--max-samples", "40"])
    assert result.exit_code == 3 and "--trust-remote-code" in result.output, result.output
    assert hub.downloads("acme/custom") == []


def test_layers_beyond_a_hub_model_not_downloaded_is_one_line_before_any_weight_comes(
    hub, tiny_bert, small_csv, tmp_path
):
    from typer.testing import CliRunner

    from modelscout.cli import app

    hub.add("acme/tiny", tiny_bert)
    layers = json.loads((tiny_bert / "config.json").read_text())["num_hidden_layers"]
    args = ["rank", "--data", str(small_csv), "--output", str(tmp_path / "out")]
    result = CliRunner().invoke(app, [*args, "-c", "acme/tiny+layers:999"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert f"layers:999 keeps every layer: config.json gives {layers}" in lines[0]
    # config.json alone was fetched, into a scratch folder: the cache holds no partial snapshot
    # that a later run would take for the downloaded model.
    assert hub.downloads("acme/tiny") == ["config.json"]
    assert not list((tmp_path / "hf-cache").glob("models--acme--tiny/snapshots/*/*"))
    assert resolve_candidate("acme/tiny+layers:1").path is None
    with pytest.raises(UserError, match="max_length:4096 is beyond the model's"):
        resolve_candidate("acme/tiny+max_length:4096")

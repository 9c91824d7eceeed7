"""A model folder's modality, image size and feature width, read from its files alone."""

import pytest

from modelscout.catalog.meta import read_folder_meta

transformers = pytest.importorskip("transformers")


def _save(folder, model, processor=None):
    model.save_pretrained(folder)
    if processor is not None:
        processor.save_pretrained(folder)
    return folder


def test_vit_folder_reads_images_at_its_processor_size(tmp_path):
    config = transformers.ViTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=64,
        patch_size=16,
    )
    processor = transformers.ViTImageProcessor(size={"height": 64, "width": 64})
    meta = read_folder_meta(_save(tmp_path, transformers.ViTModel(config), processor))
    assert meta.modality == "image"
    assert meta.image_size == 64 and meta.max_input_tokens is None
    assert meta.embedding_dim == 32
    assert meta.tasks == ["classification", "multilabel", "regression"]


def test_convolutional_folder_gives_its_last_stage_width(tmp_path):
    config = transformers.ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic"
    )
    meta = read_folder_meta(_save(tmp_path, transformers.ResNetModel(config)))
    assert meta.modality == "image"  # no processor saved: its model type says it
    assert meta.embedding_dim == 16


def test_text_folder_with_a_tokenizer_reads_text(tiny_bert):
    meta = read_folder_meta(tiny_bert)
    assert meta.modality == "text" and meta.image_size is None


def test_folder_that_says_nothing_has_unknown_modality(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "something_new"}')
    meta = read_folder_meta(tmp_path)
    assert meta.modality is None and meta.tasks == []

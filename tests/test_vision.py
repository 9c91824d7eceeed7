"""Image encoders from transformers folders: tiny real models built from configs, real images
(scikit-learn's handwritten digits written as PNG files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import SMALL_VIT
from PIL import Image
from safetensors.torch import load_file

from modelscout.backends.base import BACKENDS, LoadOptions, encode
from modelscout.backends.variants import parse_variant
from modelscout.backends.vision import POOLING, load_vision_encoder
from modelscout.catalog.meta import read_folder_meta
from modelscout.data.images import load_image
from modelscout.errors import CandidateError
from modelscout.records import Candidate, Variant


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory) -> list[Path]:
    """12 handwritten digits (8x8, 17 grey levels) as 24x24 PNG files."""
    from sklearn.datasets import load_digits

    folder = tmp_path_factory.mktemp("digits")
    paths = []
    for index, image in enumerate(load_digits().images[:12]):
        pixels = (image * 255 / 16).astype(np.uint8)
        path = folder / f"{index}.png"
        Image.fromarray(pixels).resize((24, 24), Image.NEAREST).save(path)
        paths.append(path)
    return paths


def _vit(t):
    return t.ViTModel(t.ViTConfig(**SMALL_VIT)), t.ViTImageProcessor(
        size={"height": 32, "width": 32}
    )


def _deit(t):
    processor = t.DeiTImageProcessor(
        size={"height": 40, "width": 40}, crop_size={"height": 32, "width": 32}
    )
    return t.DeiTModel(t.DeiTConfig(**SMALL_VIT)), processor


def _beit(t):
    processor = t.BeitImageProcessor(size={"height": 32, "width": 32}, do_center_crop=False)
    return t.BeitModel(t.BeitConfig(**SMALL_VIT)), processor


def _he_initialized(model):
    """transformers draws convolution and batch-norm weights with std 0.02, under which a deep
    random MobileNet or EfficientNet turns every image into ~1e-26; He initialization and unit
    batch-norm scales (as trained ones start) keep the activations alive so that the features
    differ between images."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight)
        elif isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.ones_(module.weight)
    return model


def _mobilenet_v2(t):
    config = t.MobileNetV2Config(depth_multiplier=0.25, image_size=32)
    processor = t.MobileNetV2ImageProcessor(
        size={"shortest_edge": 36}, crop_size={"height": 32, "width": 32}
    )
    return _he_initialized(t.MobileNetV2Model(config)), processor


def _efficientnet(t):
    config = t.EfficientNetConfig(
        image_size=32, width_coefficient=0.1, depth_coefficient=0.1, hidden_dim=128
    )
    return _he_initialized(t.EfficientNetModel(config)), t.EfficientNetImageProcessor(
        size={"height": 32, "width": 32}
    )


def _dinov2(t):
    processor = t.BitImageProcessor(
        size={"shortest_edge": 40}, crop_size={"height": 32, "width": 32}, do_center_crop=True
    )
    return t.Dinov2Model(t.Dinov2Config(**SMALL_VIT)), processor


def _convnext(t):
    config = t.ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2)
    return t.ConvNextModel(config), t.ConvNextImageProcessor(size={"shortest_edge": 32})


def _resnet(t):
    config = t.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1])
    return t.ResNetModel(config), t.ConvNextImageProcessor(size={"shortest_edge": 32})


def _swin(t):
    config = t.SwinConfig(
        image_size=32, patch_size=4, embed_dim=8, depths=[1, 1], num_heads=[1, 2], window_size=2
    )
    return t.SwinModel(config), t.ViTImageProcessor(size={"height": 32, "width": 32})


def _clip(t):
    text = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1}
    text |= {"num_attention_heads": 2, "vocab_size": 99}
    config = t.CLIPConfig(vision_config=SMALL_VIT, text_config=text, projection_dim=16)
    processor = t.CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    return t.CLIPModel(config), processor


def _siglip(t):
    text = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1}
    text |= {"num_attention_heads": 2, "vocab_size": 99}
    config = t.SiglipConfig(vision_config=SMALL_VIT, text_config=text)
    return t.SiglipModel(config), t.SiglipImageProcessor(size={"height": 32, "width": 32})


def _sam(t):
    vision = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2}
    vision |= {"image_size": 64, "patch_size": 16, "output_channels": 16, "mlp_dim": 64}
    vision |= {"global_attn_indexes": [1], "window_size": 2}
    config = t.SamConfig(
        vision_config=vision,
        prompt_encoder_config={"hidden_size": 16, "image_size": 64, "patch_size": 16},
        mask_decoder_config={
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "mlp_dim": 32,
            "iou_head_hidden_dim": 16,
        },
    )
    processor = t.SamImageProcessor(size={"longest_edge": 64}, pad_size={"height": 64, "width": 64})
    return t.SamModel(config), processor


def _vit_head(t):
    model = t.ViTForImageClassification(t.ViTConfig(**SMALL_VIT, num_labels=5))
    return model, t.ViTImageProcessor(size={"height": 32, "width": 32})


BUILDERS = {
    "vit": (_vit, 32),
    "deit": (_deit, 32),
    "beit": (_beit, 32),
    "mobilenet_v2": (_mobilenet_v2, 1280),
    "efficientnet": (_efficientnet, 128),
    "dinov2": (_dinov2, 32),
    "convnext": (_convnext, 16),
    "resnet": (_resnet, 16),
    "swin": (_swin, 16),
    "clip": (_clip, 32),
    "siglip": (_siglip, 32),
    "sam": (_sam, 16),
    "vit-head": (_vit_head, 32),
}


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    """name -> a folder with a tiny random model of that architecture and its image processor,
    built on first use; with ``pickle`` its weights are in pytorch_model.bin only."""
    import torch
    import transformers

    built: dict[tuple[str, bool], Path] = {}

    def build(name: str, pickle: bool = False) -> Path:
        if (name, pickle) not in built:
            torch.manual_seed(0)
            model, processor = BUILDERS[name][0](transformers)
            folder = tmp_path_factory.mktemp(f"{name}-pickle" if pickle else name)
            model.save_pretrained(folder)
            processor.save_pretrained(folder)
            if pickle:
                weights = folder / "model.safetensors"
                torch.save(load_file(weights), folder / "pytorch_model.bin")
                weights.unlink()
            built[name, pickle] = folder
        return built[name, pickle]

    return build


def _load(folder: Path, *variants: Variant, **options):
    candidate = Candidate(id=folder.name, source="folder", path=folder, variants=variants)
    return load_vision_encoder(candidate, read_folder_meta(folder), LoadOptions(**options))


@pytest.mark.parametrize("name", [n for n in BUILDERS if n != "vit-head"])
def test_encodes_digit_files_to_one_finite_vector_each(name, tiny_folder, digit_files):
    encoder = _load(tiny_folder(name))
    features = encode(encoder, digit_files, batch_size=5)
    assert features.shape == (12, BUILDERS[name][1])
    assert features.dtype == np.float32
    assert np.isfinite(features).all()
    assert np.array_equal(features, encode(encoder, digit_files, batch_size=5))
    np.testing.assert_allclose(features, encode(encoder, digit_files, batch_size=12), atol=1e-5)
    assert features.std(axis=0).max() > 0  # different digits, different features
    assert encoder.modality == "image"
    assert encoder.pooling == POOLING[name]


def test_dual_clip_folder_loads_its_vision_tower_only(tiny_folder):
    encoder = _load(tiny_folder("clip"))
    assert type(encoder.model).__name__ == "CLIPVisionModel"
    assert encoder.pooling == "pooler_output"


def test_sam_features_are_the_mean_of_its_image_embedding_map(tiny_folder, digit_files):
    encoder = _load(tiny_folder("sam"))
    assert type(encoder.model).__name__ == "SamVisionModel"
    assert encoder.image_size == 64
    import torch

    batch = encoder.preprocess(digit_files[:2])
    with torch.inference_mode():
        spatial = encoder.model(pixel_values=batch).last_hidden_state  # (B, C, H, W)
    expected = spatial.mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(encoder.forward(batch), expected, rtol=1e-6)


def test_head_model_gives_backbone_cls_features_and_source_probs(tiny_folder, digit_files):
    encoder = _load(tiny_folder("vit-head"))
    features = encode(encoder, digit_files, batch_size=5)
    assert features.shape == (12, 32)
    assert encoder.pooling == "cls"
    assert encoder.source_probs.shape == (12, 5)
    np.testing.assert_allclose(encoder.source_probs.sum(axis=1), 1.0, rtol=1e-5)
    encoder.reset_source_probs()
    encode(encoder, digit_files[:3])
    assert encoder.source_probs.shape == (3, 5)


def test_image_size_variant_shrinks_the_pixels_the_model_sees(tiny_folder, digit_files):
    for name in ("vit", "deit", "dinov2", "convnext", "clip"):
        parent = _load(tiny_folder(name))
        small = _load(tiny_folder(name), Variant("image_size", 16))
        assert parent.image_size == 32
        assert small.image_size == 16
        assert small.preprocess(digit_files[:2]).shape == (2, 3, 16, 16)
        features = encode(small, digit_files)
        assert features.shape == encode(parent, digit_files).shape
        assert np.isfinite(features).all()


def test_image_size_variant_is_refused_for_sam(tiny_folder):
    with pytest.raises(CandidateError, match="image_size is not supported for SAM"):
        _load(tiny_folder("sam"), Variant("image_size", 32))


def test_layers_variant_cuts_a_vit_and_is_refused_for_a_resnet(tiny_folder, digit_files):
    cut = _load(tiny_folder("vit"), Variant("layers", 1))
    assert cut.model.config.num_hidden_layers == 1
    features = encode(cut, digit_files)
    assert np.isfinite(features).all()
    assert not np.allclose(features, encode(_load(tiny_folder("vit")), digit_files))
    with pytest.raises(CandidateError, match="layers:1 is not supported for resnet"):
        _load(tiny_folder("resnet"), Variant("layers", 1))


def test_pickle_only_folder_is_refused_without_opt_in(tiny_folder, digit_files):
    folder = tiny_folder("vit", pickle=True)
    assert read_folder_meta(folder).weight_format == "pickle"
    with pytest.raises(CandidateError, match="allow-pickle"):
        _load(folder)
    allowed = _load(folder, allow_pickle=True)
    np.testing.assert_allclose(
        encode(allowed, digit_files), encode(_load(tiny_folder("vit")), digit_files), atol=1e-6
    )


def test_folder_without_image_processor_is_a_failed_candidate(tiny_folder, tmp_path):
    folder = tiny_folder("vit")
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        (bare / name).write_bytes((folder / name).read_bytes())
    with pytest.raises(CandidateError, match="no preprocessor_config.json"):
        _load(bare)


def test_torch_module_and_example_batch_give_the_forward_features(tiny_folder, digit_files):
    import torch

    encoder = _load(tiny_folder("convnext"))
    batch = encoder.example_batch(digit_files[:3])
    with torch.inference_mode():
        exported = encoder.torch_module(batch).numpy()
    np.testing.assert_array_equal(exported, encoder.forward(batch))


def test_to_moves_the_model_and_keeps_float32_features(tiny_folder, digit_files):
    import torch

    encoder = _load(tiny_folder("resnet")).to("cpu", torch.float64)
    features = encode(encoder, digit_files)
    assert features.dtype == np.float32
    assert next(encoder.model.parameters()).dtype == torch.float64


def test_registered_as_the_transformers_image_backend():
    backend = BACKENDS["transformers-image"]
    assert backend.modality == "image"
    assert backend.load is load_vision_encoder


def test_image_size_is_a_variant_kind():
    assert parse_variant("image_size:160") == Variant("image_size", 160)


def test_load_image_composites_transparency_on_white_and_converts_grey(tmp_path):
    clear = tmp_path / "clear.png"
    Image.new("RGBA", (4, 4), (255, 0, 0, 0)).save(clear)
    grey = tmp_path / "grey.png"
    Image.new("L", (4, 4), 7).save(grey)
    cmyk = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (4, 4), (0, 0, 0, 0)).save(cmyk)
    assert load_image(clear).getpixel((0, 0)) == (255, 255, 255)
    assert load_image(grey).getpixel((0, 0)) == (7, 7, 7)
    assert load_image(cmyk).mode == "RGB"


def test_load_image_turns_the_image_upright_by_its_exif_orientation(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: the viewer turns it 90 degrees clockwise
    Image.new("RGB", (40, 20)).save(path, exif=exif)
    assert load_image(path).size == (20, 40)


@pytest.mark.parametrize("name", ["vit", "convnext"])
def test_onnx_check_exports_an_image_encoder_and_agrees_with_pytorch(
    name, tiny_folder, digit_files
):
    pytest.importorskip("onnxruntime")
    from modelscout.backends.onnx import check_onnx

    encoder = _load(tiny_folder(name))
    items = [str(p) for p in digit_files]
    reference = encode(encoder, items, batch_size=4)
    timed = []

    def latency(predict):
        timed.append(predict(items[:1]))  # the exported model runs on the user's inputs
        return "timed"

    found = check_onnx(encoder, items, reference, threads=1, latency=latency)
    assert found["ok"] is True, found["reason"]
    assert found["max_abs_diff"] < 1e-4 and found["latency"] == "timed"
    assert timed[0].shape == (1, BUILDERS[name][1])

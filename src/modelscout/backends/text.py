"""Text encoders from transformers and sentence-transformers folders.

Both kinds load through sentence-transformers: a sentence-transformers folder
as it is, a plain transformers folder as a Transformer module followed by mean
pooling. One code path then encodes, batches (length-sorted) and truncates.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from modelscout.backends.base import Backend, LoadOptions, register
from modelscout.backends.variants import keep_first_layers
from modelscout.errors import CandidateError
from modelscout.records import Candidate, ModelMeta


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)


def check_loadable(meta: ModelMeta, *, allow_pickle: bool, trust_remote_code: bool) -> None:
    """Refuse, before any file is opened, what is unsafe to load without the user's opt-in."""
    if meta.needs_remote_code and not trust_remote_code:
        raise CandidateError(
            "needs trust_remote_code (its config maps to custom Python code); "
            "rerun with --trust-remote-code if you trust its author"
        )
    if meta.weight_format is None:
        raise CandidateError("no weight file (.safetensors or .bin) in the folder")
    if not meta.tokenizer_files:
        raise CandidateError("tokenizer missing: no tokenizer.json, vocab or sentencepiece file")
    if meta.weight_format == "pickle" and not allow_pickle:
        raise CandidateError(
            f"ships only pickle weights ({', '.join(meta.weight_files[:2])}), which can run "
            "arbitrary code when loaded; rerun with --allow-pickle if you trust it"
        )


class TextEncoder:
    """A loaded text model (the ``Encoder`` of backends/base.py): ``preprocess`` tokenizes,
    ``forward`` runs the model on the tokens; ``encode`` maps texts to one feature vector each."""

    modality = "text"

    def __init__(self, model, max_length: int) -> None:
        self.model = model
        self.max_length = max_length

    @property
    def tokenizer(self):
        return self.model.tokenizer

    @property
    def torch_module(self):
        """The torch model the ONNX check exports (backends/onnx.py)."""
        return self.model

    def trainable(self):
        """The model as a ``backends.trainable.Trainable``: token tensors -> (B, D) sentence
        embeddings with gradients (the verification fine-tune trains it)."""
        from modelscout.backends.trainable import Trainable, sentence_transformer_features

        return Trainable(self.model, sentence_transformer_features, self.model[0].auto_model)

    def preprocess(self, texts: list[str]) -> dict:
        """(B,) texts -> the model's token tensors, cut at ``max_length`` tokens."""
        return self.model.tokenize(list(texts))

    def forward(self, batch: dict) -> np.ndarray:
        """Token tensors of B texts -> (B, D) float32 sentence embeddings in host memory."""
        import torch

        device = self.model.device
        with torch.inference_mode():
            # tensors to the model's device; other entries (a modality name) as they are
            moved = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
            out = self.model.forward(moved)
        return out["sentence_embedding"].float().cpu().numpy()

    def input_lengths(self, texts: list[str]) -> np.ndarray:
        """(N,) token counts of the untruncated inputs (``token_lengths``)."""
        return self.token_lengths(texts)

    def to(self, device, dtype) -> TextEncoder:
        """Move the model to ``device`` (a torch device) at ``dtype``, in place; ``encode``
        then runs there and still returns float32 features in host memory."""
        self.model.to(device=device, dtype=dtype)
        return self

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """(N,) texts -> (N, D) float32 features, inputs truncated to ``max_length`` tokens."""
        import torch

        with torch.inference_mode():
            features = self.model.encode(
                texts, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True
            )
        return np.asarray(features, dtype=np.float32)

    def encode_timed(self, texts: list[str], batch_size: int) -> tuple[np.ndarray, list[float]]:
        """Features of every text, plus the wall-clock seconds of each batch.

        Texts are batched longest first, as sentence-transformers does internally, so the
        padding (and the time) per batch is what ``encode`` itself would spend.
        """
        order = np.argsort([-len(t) for t in texts], kind="stable")
        features = np.empty((len(texts), 0), dtype=np.float32)
        seconds = []
        for first in range(0, len(texts), batch_size):
            rows = order[first : first + batch_size]
            start = time.perf_counter()
            batch = self.encode([texts[i] for i in rows], batch_size=len(rows))
            seconds.append(time.perf_counter() - start)
            if features.shape[1] == 0:
                features = np.empty((len(texts), batch.shape[1]), dtype=np.float32)
            features[rows] = batch
        return features, seconds

    def encode_layers(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """(N,) texts -> (N, L, D) float32: each of the L transformer layers' outputs (the
        embedding layer left out), pooled as the model pools its last one (the first token,
        or the mean over the real tokens; a final Normalize module is not applied) —
        measure/layers.py chooses among them."""
        import torch

        parts = []
        with torch.inference_mode():
            for first in range(0, len(texts), batch_size):
                tokens = self._model_tokens(self.preprocess(texts[first : first + batch_size]))
                hidden = self._hidden_states(tokens)[1:]
                parts.append(pool_layers(hidden, tokens["attention_mask"], self._first_token))
        return np.concatenate(parts)

    @property
    def _first_token(self) -> bool:
        """Whether the model pools by its first token (CLS) rather than a mean."""
        pooling = next((m for m in self.model if hasattr(m, "pooling_mode_cls_token")), None)
        return bool(pooling is not None and pooling.pooling_mode_cls_token)

    def _model_tokens(self, batch: dict) -> dict:
        """The tensors the transformer itself takes, on its device."""
        device = self.model.device
        names = ("input_ids", "attention_mask", "token_type_ids")
        return {k: v.to(device) for k, v in batch.items() if k in names}

    def _hidden_states(self, tokens: dict) -> tuple:
        """Every layer's (B, T, D) output, the embedding layer first."""
        return self.model[0].auto_model(**tokens, output_hidden_states=True).hidden_states

    def token_lengths(self, texts: list[str]) -> np.ndarray:
        """(N,) token counts of the untruncated inputs, special tokens included."""
        encoded = self.tokenizer(list(texts), add_special_tokens=True, truncation=False)[
            "input_ids"
        ]
        return np.fromiter((len(ids) for ids in encoded), dtype=np.int64, count=len(texts))


class HeadTextEncoder(TextEncoder):
    """A model with a sequence-classification head (its *source* task, not the user's).

    Features are the mean-pooled last hidden state, as for every other candidate; the head's
    softmax over its own labels is kept too, for LEEP and NCE. Both come from one forward.
    """

    def __init__(self, model, tokenizer, max_length: int) -> None:
        super().__init__(model, max_length)
        self._tokenizer = tokenizer
        self.source_probs: np.ndarray | None = None

    @property
    def tokenizer(self):
        return self._tokenizer

    def preprocess(self, texts: list[str]) -> dict:
        return self._tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )

    def trainable(self):
        """The base model without its source head as a ``backends.trainable.Trainable``: token
        tensors -> (B, D) mean-pooled features with gradients."""
        from modelscout.backends.trainable import Trainable, mean_pooled_features

        base = self.model.base_model
        return Trainable(base, mean_pooled_features, base)

    def forward(self, batch: dict) -> np.ndarray:
        """Token tensors of B texts -> (B, D) mean-pooled features; ``source_probs`` becomes
        the head's (B, K) softmax over the same texts."""
        features, self.source_probs = self._pooled_and_probs(batch)
        return features

    def _pooled_and_probs(self, tokens: dict) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            tokens = tokens.to(self.model.device)
            out = self.model(**tokens, output_hidden_states=True)
            hidden = out.hidden_states[-1].float()  # fp32: an fp16 sum of many tokens overflows
            mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            probs = torch.softmax(out.logits.float(), dim=-1)
        return pooled.cpu().numpy(), probs.cpu().numpy()

    @property
    def _first_token(self) -> bool:
        return False  # its features are the mean-pooled last layer (``_pooled_and_probs``)

    def _model_tokens(self, batch: dict) -> dict:
        device = self.model.device
        return {k: v.to(device) for k, v in batch.items() if hasattr(v, "to")}

    def _hidden_states(self, tokens: dict) -> tuple:
        return self.model(**tokens, output_hidden_states=True).hidden_states

    def encode_with_probs(self, texts: list[str], batch_size: int = 32):
        """(N,) texts -> (N, D) features and (N, K) source-label probabilities."""
        features, probs = [], []
        for first in range(0, len(texts), batch_size):
            batch = self.preprocess(texts[first : first + batch_size])
            pooled, batch_probs = self._pooled_and_probs(batch)
            features.append(pooled)
            probs.append(batch_probs)
        return np.concatenate(features), np.concatenate(probs)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        return self.encode_with_probs(texts, batch_size)[0]

    def encode_timed(self, texts: list[str], batch_size: int) -> tuple[np.ndarray, list[float]]:
        order = np.argsort([-len(t) for t in texts], kind="stable")
        features, probs, seconds = None, None, []
        for first in range(0, len(texts), batch_size):
            rows = order[first : first + batch_size]
            start = time.perf_counter()
            batch, batch_probs = self.encode_with_probs([texts[i] for i in rows], len(rows))
            seconds.append(time.perf_counter() - start)
            if features is None:
                features = np.empty((len(texts), batch.shape[1]), dtype=np.float32)
                probs = np.empty((len(texts), batch_probs.shape[1]), dtype=np.float64)
            features[rows], probs[rows] = batch, batch_probs
        self.source_probs = probs
        return features, seconds


def pool_layers(hidden: tuple, mask: Any, first_token: bool) -> np.ndarray:
    """L tensors (B, T, D) -> (B, L, D) float32: each layer's first token, or its mean over
    the tokens whose ``mask`` (B, T) is 1 (padding left out)."""
    import torch

    stacked = torch.stack([layer.float() for layer in hidden], dim=1)  # (B, L, T, D)
    if first_token:
        return stacked[:, :, 0].cpu().numpy()
    weights = mask[:, None, :, None].to(stacked.dtype)
    pooled = (stacked * weights).sum(2) / weights.sum(2).clamp(min=1)
    return pooled.cpu().numpy()


def has_classification_head(meta: ModelMeta) -> bool:
    return bool(meta.architecture) and meta.architecture.endswith("ForSequenceClassification")


def _load_head_model(path: str, meta: ModelMeta, model_kwargs: dict, trust_remote_code: bool):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        path, local_files_only=True, trust_remote_code=trust_remote_code
    )
    model = AutoModelForSequenceClassification.from_pretrained(
        path, local_files_only=True, trust_remote_code=trust_remote_code, **model_kwargs
    )
    limit = min(meta.max_input_tokens or 512, 512)
    return HeadTextEncoder(model.eval(), tokenizer, limit)


def load_text_encoder(
    candidate: Candidate,
    meta: ModelMeta,
    *,
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
) -> TextEncoder:
    """Load a candidate folder as a TextEncoder, its layers and max_length variants applied;
    an int8 variant runs in ONNX Runtime (backends.onnx.int8_encoder, on the encoder this
    returns)."""
    check_loadable(meta, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
    _quiet_libraries()
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules

    path = str(Path(candidate.path))
    model_kwargs = {"use_safetensors": meta.weight_format == "safetensors"}
    if meta.library != "sentence-transformers" and has_classification_head(meta):
        try:
            encoder = _load_head_model(path, meta, model_kwargs, trust_remote_code)
        except Exception as error:
            raise CandidateError(f"could not load: {_loading_reason(error)}") from error
        return _apply_variants(encoder, candidate)
    try:
        if meta.library == "sentence-transformers":
            model = SentenceTransformer(
                path,
                device="cpu",
                local_files_only=True,
                trust_remote_code=trust_remote_code,
                model_kwargs=model_kwargs,
            )
        else:
            body = modules.Transformer(
                path,
                model_kwargs={**model_kwargs, "trust_remote_code": trust_remote_code},
                processor_kwargs={"trust_remote_code": trust_remote_code},
                config_kwargs={"trust_remote_code": trust_remote_code},
            )
            pooling = modules.Pooling(body.get_embedding_dimension(), "mean")
            model = SentenceTransformer(modules=[body, pooling], device="cpu")
    except CandidateError:
        raise
    except Exception as error:
        raise CandidateError(f"could not load: {_loading_reason(error)}") from error
    if model.tokenizer is None:
        raise CandidateError("could not load: the folder has no tokenizer files")
    model.eval()
    limit = model.max_seq_length or meta.max_input_tokens or 512
    return _apply_variants(TextEncoder(model, max_length=limit), candidate)


def _apply_variants(encoder: TextEncoder, candidate: Candidate) -> TextEncoder:
    """Cut layers or shorten inputs, as the candidate's ``+variant`` parts say."""
    heads = isinstance(encoder, HeadTextEncoder)
    for variant in candidate.variants:
        if variant.kind == "layers":
            keep_first_layers(
                encoder.model if heads else encoder.model[0].auto_model, int(variant.value)
            )
        elif variant.kind == "max_length":
            encoder.max_length = min(encoder.max_length, int(variant.value))
    if not heads:
        encoder.model.max_seq_length = encoder.max_length
    return encoder


def _loading_reason(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    lowered = text.lower()
    if "tokenizer" in lowered or "vocab" in lowered:
        return f"tokenizer missing or unreadable ({text[:160]})"
    if "safetensors" in lowered or "header" in lowered or "deserializ" in lowered:
        return f"weights are corrupt or truncated ({text[:160]})"
    return f"{type(error).__name__}: {text[:200]}"


def _load(candidate: Candidate, meta: ModelMeta, options: LoadOptions) -> TextEncoder:
    """The registry's loader: ``load_text_encoder`` with what the user allowed."""
    return load_text_encoder(
        candidate,
        meta,
        allow_pickle=options.allow_pickle,
        trust_remote_code=options.trust_remote_code,
    )


TEXT = register(Backend("text", "text", _load))

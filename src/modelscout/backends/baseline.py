"""The "no pre-trained model" baseline: TF-IDF features and a linear classifier.

Every ranking includes it unless switched off, so the report can say how much
a pre-trained model buys over a classic classifier trained on the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.pipeline import make_pipeline, make_union
from sklearn.svm import LinearSVC

from modelscout.backends.base import Backend, LoadOptions, register
from modelscout.records import Candidate, ModelMeta

VERSION = "tfidf-v1"

# The two views of the text: (CountVectorizer settings, min_df). Word 1-2-grams, and
# character 2-4-grams within word boundaries (robust to typos and to many languages).
_VIEWS: tuple[tuple[dict[str, Any], int], ...] = (
    ({"ngram_range": (1, 2)}, 1),
    ({"analyzer": "char_wb", "ngram_range": (2, 4)}, 2),
)
_C = 0.5


def tfidf_classifier(seed: int = 0) -> Any:
    """Word 1-2-grams and character 2-4-grams, then a linear SVM (one-vs-rest).

    A linear SVM rather than logistic regression: on 5,000 BANKING77 rows (77 classes,
    ~60k sparse features) 5-fold logistic regression took 40 s on 2 cores against 5 s
    for the SVM, at the same macro-F1 (0.868 vs 0.866).
    """
    features = make_union(
        *(
            TfidfVectorizer(sublinear_tf=True, min_df=min_df, **settings)
            for settings, min_df in _VIEWS
        )
    )
    return make_pipeline(features, LinearSVC(C=_C, random_state=seed))


def term_counts(texts: Sequence[str]) -> tuple[sparse.csr_matrix, list[int]]:
    """(N, V) n-gram counts of every text, both views side by side, and each view's width:
    the inputs of ``fold_classifier``.

    Counting is the expensive, pure-Python part of TF-IDF and depends on each text alone,
    so cross-validation counts once here and each fold keeps only its own vocabulary.
    """
    blocks = [CountVectorizer(**settings).fit_transform(texts) for settings, _ in _VIEWS]
    return sparse.hstack(blocks, format="csr"), [block.shape[1] for block in blocks]


def fold_classifier(widths: Sequence[int], seed: int = 0) -> Any:
    """``tfidf_classifier`` for inputs that are rows of ``term_counts``.

    Fitted on some rows, it builds the features (vocabulary, IDF, column order) and the
    model that ``tfidf_classifier`` fitted on those rows' texts would, so it predicts the
    same; only the counting is shared between folds.
    """
    views, first = [], 0
    for index, ((_, min_df), width) in enumerate(zip(_VIEWS, widths, strict=True)):
        tfidf = make_pipeline(TrainVocabulary(min_df), TfidfTransformer(sublinear_tf=True))
        views.append((f"view{index}", tfidf, slice(first, first + width)))
        first += width
    return make_pipeline(ColumnTransformer(views), LinearSVC(C=_C, random_state=seed))


class TrainVocabulary(TransformerMixin, BaseEstimator):
    """Keep the columns of a count matrix whose document frequency, in the rows it was fitted
    on, is at least ``min_df``: the vocabulary a vectorizer fitted on those rows would have.

    scikit-learn has no transformer for a vocabulary restricted after counting (its
    vectorizers count and restrict in one ``fit``), hence these few lines.
    """

    def __init__(self, min_df: int = 1) -> None:
        self.min_df = min_df

    def fit(self, counts: sparse.spmatrix, y: object = None) -> TrainVocabulary:
        frequency = np.asarray((counts > 0).sum(axis=0)).ravel()
        self.columns_ = np.flatnonzero(frequency >= max(self.min_df, 1))
        return self

    def transform(self, counts: sparse.spmatrix) -> sparse.spmatrix:
        return counts[:, self.columns_]


class BaselineEncoder:
    """The baseline as an ``Encoder``: trained on the sample (``fit``) before it predicts.

    Its outputs (the SVM's decision values) are no features for the estimators (the backend's
    ``dense_features`` is False); they are what serving it computes, hence what is timed. Its
    cross-validated probe is its own model on term counts (``probe_inputs``, ``probe_model``).
    """

    modality = "text"
    probe_name = "tfidf-linear-svm"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.model = tfidf_classifier(seed)
        self._widths: list[int] = []

    def fit(self, texts: Sequence[str], labels: np.ndarray) -> BaselineEncoder:
        self.model.fit(list(texts), labels)
        return self

    def preprocess(self, texts: Sequence[str]) -> list[str]:
        return list(texts)

    def forward(self, texts: list[str]) -> np.ndarray:
        """(B,) texts -> (B, K) float32 decision values ((B, 1) for two classes)."""
        scores = self.model.decision_function(texts)
        return np.asarray(scores, dtype=np.float32).reshape(len(texts), -1)

    def probe_inputs(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """(N, V) term counts of every text, counted once for all folds (``term_counts``)."""
        counts, self._widths = term_counts(texts)
        return counts

    def probe_model(self, seed: int) -> Any:
        """A fresh ``fold_classifier`` over the columns of the last ``probe_inputs``."""
        return fold_classifier(self._widths, seed)


def baseline_meta() -> ModelMeta:
    """The baseline has no pre-trained weights: nothing to download, license or declare."""
    return ModelMeta(
        modality="text",
        library="scikit-learn",
        architecture="TF-IDF + linear SVM",
        params=None,
        disk_size_bytes=0,
        max_input_tokens=None,
        weight_format=None,
    )


def _load(candidate: Candidate, meta: ModelMeta, options: LoadOptions) -> BaselineEncoder:
    return BaselineEncoder(options.seed)


BASELINE = register(Backend("baseline", "text", _load, dense_features=False, torch=False))

"""The "no pre-trained model" baseline: TF-IDF features and logistic regression.

Every ranking includes it unless switched off, so the report can say how much
a pre-trained model buys over a classic classifier trained on the same rows.
"""

from __future__ import annotations

from typing import Any

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline, make_union
from sklearn.svm import LinearSVC

from modelscout.catalog.meta import ModelMeta

VERSION = "tfidf-v1"


def tfidf_classifier(seed: int = 0) -> Any:
    """Word 1-2-grams and character 2-4-grams (robust to typos and many languages), then a
    linear SVM (one-vs-rest).

    A linear SVM rather than logistic regression: on 5,000 BANKING77 rows (77 classes,
    ~60k sparse features) 5-fold logistic regression took 40 s on 2 cores against 5 s
    for the SVM, at the same macro-F1 (0.868 vs 0.866).
    """
    features = make_union(
        TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1),
        TfidfVectorizer(sublinear_tf=True, analyzer="char_wb", ngram_range=(2, 4), min_df=2),
    )
    return make_pipeline(features, LinearSVC(C=0.5, random_state=seed))


def baseline_meta() -> ModelMeta:
    """The baseline has no pre-trained weights: nothing to download, license or declare."""
    return ModelMeta(
        library="scikit-learn",
        architecture="TF-IDF + linear SVM",
        params=None,
        disk_size_bytes=0,
        max_input_tokens=None,
        weight_format=None,
    )

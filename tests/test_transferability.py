"""Specification of the transferability estimators and of the input validator they share."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from modelscout.measure.transferability import names
from modelscout.measure.transferability.knn import _stratified_folds
from modelscout.measure.transferability.leep import (
    _fit_diagonal_mixture,
    _leep,
    _mixture_posteriors,
    _quadratic_design,
)
from modelscout.measure.validation import (
    InputError,
    check_features,
    check_labels,
    check_probabilities,
)
from modelscout.transferability import (
    ESTIMATORS,
    HEAD_ESTIMATORS,
    Estimator,
    evaluate_ranking,
    gbc,
    h_score,
    knn_accuracy,
    leep,
    logme,
    nce,
    nleep,
    parc,
    regularized_h_score,
    sfda,
    transrate,
)

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference" / "transferability"

FEATURE_ESTIMATORS = {
    "logme": logme,
    "logme_icml": lambda f, y: logme(f, y, solver="icml"),
    "h_score": h_score,
    "regularized_h_score": regularized_h_score,
    "transrate": transrate,
    "sfda": sfda,
    "parc": parc,
    "gbc_spherical": gbc,
    "gbc_diagonal": lambda f, y: gbc(f, y, gaussian="diagonal"),
}

# The authors' PARC builds its label matrix with np.corrcoef, whose rounding splits equal
# entries by one ulp in a BLAS-dependent pattern; Spearman then ranks that noise. Only on
# this case did the reference machine's rounding leave the ties intact (see parc()).
PARC_REFERENCE_WITHOUT_SPLIT_TIES = {"gauss_n_lt_d"}


def _load_reference():
    if not (REFERENCE_DIR / "expected.json").exists():
        pytest.skip(f"reference vectors not found at {REFERENCE_DIR} (../shared beside the repo)")
    expected = json.loads((REFERENCE_DIR / "expected.json").read_text())
    with np.load(REFERENCE_DIR / "vectors.npz") as vectors:
        return expected, {key: vectors[key] for key in vectors.files}


def _reference_cases():
    if not (REFERENCE_DIR / "expected.json").exists():
        return [pytest.param(None, None, marks=pytest.mark.skip(reason="no reference vectors"))]
    expected = json.loads((REFERENCE_DIR / "expected.json").read_text())
    cases = []
    for case, values in expected.items():
        for key in values:
            if key == "logme_reference_impl":
                continue
            if key == "parc" and case not in PARC_REFERENCE_WITHOUT_SPLIT_TIES:
                continue
            cases.append(pytest.param(case, key, id=f"{case}-{key}"))
    return cases


def _score_reference(case: str, key: str, vectors: dict) -> float:
    if case == "regression":
        return logme(vectors["regression/features"], vectors["regression/targets"], regression=True)
    if case == "source_probs":
        probs, labels = vectors["source_probs/probs"], vectors["source_probs/labels"]
        if key.startswith("leep"):
            return leep(probs, labels)
        return nce(probs.argmax(axis=1), labels)
    return FEATURE_ESTIMATORS[key](vectors[f"{case}/features"], vectors[f"{case}/labels"])


# --------------------------------------------------------------------------- reference values


@pytest.mark.parametrize(("case", "key"), _reference_cases())
def test_reproduces_published_reference_value(case, key):
    expected, vectors = _load_reference()
    assert _score_reference(case, key, vectors) == pytest.approx(expected[case][key], rel=1e-6)


def test_logme_keeps_null_space_eigenvalues_when_features_have_fewer_rows_than_dims():
    expected, vectors = _load_reference()
    score = logme(vectors["gauss_n_lt_d/features"], vectors["gauss_n_lt_d/labels"])
    assert score == pytest.approx(expected["gauss_n_lt_d"]["logme"], rel=1e-6)
    assert score != pytest.approx(expected["gauss_n_lt_d"]["logme_reference_impl"], rel=1e-2)


@pytest.mark.parametrize(
    "case", ["real_text_minilm", "gauss_n_gt_d", "gauss_n_lt_d", "gauss_longtail"]
)
def test_parc_equals_authors_pipeline_with_exact_label_ties(case):
    _, vectors = _load_reference()
    features, labels = vectors[f"{case}/features"], vectors[f"{case}/labels"]
    reduced = PCA(
        n_components=min(32, len(labels)),
        svd_solver="randomized",
        iterated_power=1,
        random_state=1919,
    ).fit_transform(features)
    feature_rdm = 1 - np.corrcoef(StandardScaler().fit_transform(reduced))
    n_classes = labels.max() + 1
    label_rdm = np.where(labels[:, None] == labels[None, :], 0.0, n_classes / (n_classes - 1))
    upper = np.triu_indices(len(labels), 1)
    authors = stats.spearmanr(feature_rdm[upper], label_rdm[upper])[0] * 100
    assert parc(features, labels) == pytest.approx(authors, rel=1e-9)


def _authors_fixed_point_logme(features: np.ndarray, labels: np.ndarray) -> float:
    """Transcript of thuml/LogME ``_fit_fixed_point``: one solver loop per class."""
    n, d = features.shape
    u, s, vh = np.linalg.svd(features, full_matrices=False)
    sigma = s.reshape(-1, 1) ** 2
    evidences = []
    for c in range(labels.max() + 1):
        y = (labels == c).astype(np.float64).reshape(-1, 1)
        x2 = (u.T @ y) ** 2
        res_x2 = (y**2).sum() - x2.sum()
        alpha, beta = 1.0, 1.0
        for _ in range(11):
            t = alpha / beta
            gamma = (sigma / (sigma + t)).sum()
            m2 = (sigma * x2 / ((t + sigma) ** 2)).sum()
            res2 = (x2 / ((1 + sigma / t) ** 2)).sum() + res_x2
            alpha = gamma / (m2 + 1e-5)
            beta = (n - gamma) / (res2 + 1e-5)
            if abs(alpha / beta - t) / t <= 1e-3:
                break
        evidence = (
            d / 2.0 * np.log(alpha)
            + n / 2.0 * np.log(beta)
            - 0.5 * np.sum(np.log(alpha + beta * sigma))
            - beta / 2.0 * res2
            - alpha / 2.0 * m2
            - n / 2.0 * np.log(2 * np.pi)
        )
        evidences.append(evidence / n)
    return float(np.mean(evidences))


def test_logme_vectorized_solver_stops_each_class_where_the_per_class_loop_stops():
    rng = np.random.default_rng(3)
    # Classes of very different size and separation converge after different numbers of steps.
    labels = np.repeat(np.arange(6), [5, 12, 40, 80, 150, 300])
    features = (
        rng.standard_normal((len(labels), 20))
        + 3.0 * np.eye(20)[labels] * np.array([0.0, 0.3, 1.0, 2.0, 4.0, 8.0])[labels, None]
    )
    assert logme(features, labels) == pytest.approx(
        _authors_fixed_point_logme(features, labels), rel=1e-10
    )


# --------------------------------------------------------------------------- invariances


def _clusters(n_per_class=30, n_classes=4, dim=6, spread=6.0, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    means = rng.standard_normal((n_classes, dim)) * spread
    return means[labels] + rng.standard_normal((len(labels), dim)), labels


@pytest.mark.parametrize("name", sorted(FEATURE_ESTIMATORS))
def test_score_is_unchanged_by_permuting_samples(name):
    features, labels = _clusters()
    order = np.random.default_rng(1).permutation(len(labels))
    estimator = FEATURE_ESTIMATORS[name]
    assert estimator(features[order], labels[order]) == pytest.approx(
        estimator(features, labels), rel=1e-7
    )


@pytest.mark.parametrize("name", sorted(FEATURE_ESTIMATORS))
def test_score_is_unchanged_by_renaming_classes(name):
    features, labels = _clusters()
    score = FEATURE_ESTIMATORS[name](features, labels)
    permuted_ids = np.array([2, 0, 3, 1])[labels]
    strings = np.array(["tulip", "daisy", "rose", "aster"])[labels]
    sparse_ints = np.array([-7, 40, 3, 1000])[labels]
    for renamed in (permuted_ids, strings, sparse_ints):
        assert FEATURE_ESTIMATORS[name](features, renamed) == pytest.approx(score, rel=1e-9)


@pytest.mark.parametrize("name", sorted(FEATURE_ESTIMATORS))
def test_separable_classes_score_higher_than_shuffled_labels(name):
    features, labels = _clusters(spread=10.0)
    shuffled = np.random.default_rng(2).permutation(labels)
    assert FEATURE_ESTIMATORS[name](features, labels) > FEATURE_ESTIMATORS[name](features, shuffled)


def _source_head(seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), 40)
    logits = rng.standard_normal((len(labels), 5))
    logits[np.arange(len(labels)), labels] += 4.0  # source class z = target class y
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True), labels


HEAD = {"leep": leep, "nce": lambda p, y: nce(p.argmax(axis=1), y)}


@pytest.mark.parametrize("name", sorted(HEAD))
def test_head_score_is_unchanged_by_permuting_samples_and_renaming_classes(name):
    probs, labels = _source_head()
    score = HEAD[name](probs, labels)
    order = np.random.default_rng(1).permutation(len(labels))
    assert HEAD[name](probs[order], labels[order]) == pytest.approx(score, rel=1e-9)
    assert HEAD[name](probs, np.array(["b", "c", "a"])[labels]) == pytest.approx(score, rel=1e-9)


@pytest.mark.parametrize("name", sorted(HEAD))
def test_head_score_is_higher_when_source_predicts_target_than_for_shuffled_labels(name):
    probs, labels = _source_head()
    shuffled = np.random.default_rng(2).permutation(labels)
    assert HEAD[name](probs, labels) > HEAD[name](probs, shuffled)


# --------------------------------------------------------------------------- hand-worked cases


def test_leep_by_hand():
    probs = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.5, 0.5]])
    labels = np.array([0, 1, 0, 1])
    # joint P(y, z) = [[1.5, 0.5], [0.5, 1.5]] / 4, so P(y | z) = [[.75, .25], [.25, .75]];
    # expected empirical predictions of the true label: .75, .75, .5, .5.
    assert leep(probs, labels) == pytest.approx(np.mean(np.log([0.75, 0.75, 0.5, 0.5])))


def test_nce_by_hand():
    source = np.array([0, 0, 0, 0, 1, 1])
    labels = np.array([0, 0, 1, 1, 1, 1])
    # H(Y | Z=0) = log 2 with P(Z=0) = 2/3; H(Y | Z=1) = 0.
    assert nce(source, labels) == pytest.approx(-2 / 3 * np.log(2))


def test_nleep_is_zero_when_each_class_is_one_tight_isolated_cluster():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 50)
    features = 100.0 * np.eye(3)[labels] + 0.01 * rng.standard_normal((150, 3))
    assert nleep(features, labels, components_per_class=1) == pytest.approx(0.0, abs=1e-6)


def test_nleep_is_repeatable_for_a_seed_and_blind_to_class_names():
    features, labels = _clusters(n_per_class=40)
    score = nleep(features, labels, seed=3)
    assert nleep(features, labels, seed=3) == score
    assert nleep(features, np.array(["w", "x", "y", "z"])[labels], seed=3) == pytest.approx(score)
    assert score > nleep(features, np.random.default_rng(2).permutation(labels), seed=3)


def test_nleep_mixture_is_scikit_learn_gaussian_mixture_to_rounding():
    # Overlapping clusters: EM takes 45 steps, so the update order and stopping rule matter.
    features, labels = _clusters(n_per_class=100, dim=8, spread=0.5)
    reduced = PCA(n_components=0.8).fit_transform(features)
    library = GaussianMixture(n_components=20, covariance_type="diag", random_state=0)
    library.fit(reduced)
    posteriors, log_likelihood = _mixture_posteriors(
        _quadratic_design(reduced), _fit_diagonal_mixture(reduced, 20, seed=0)
    )
    assert log_likelihood == pytest.approx(library.score(reduced), rel=1e-9)
    assert np.abs(posteriors - library.predict_proba(reduced)).max() < 1e-9
    library_nleep = _leep(library.predict_proba(reduced), labels, 4)
    assert nleep(features, labels, components_per_class=5) == pytest.approx(library_nleep, rel=1e-9)


# At this scale k-means, too, sees each cluster's rows as duplicates, and says so.
@pytest.mark.filterwarnings("ignore:Number of distinct clusters")
def test_nleep_rejects_features_whose_component_variances_round_away():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 40)
    features = 1e9 * np.eye(3)[labels] + 1e-2 * rng.standard_normal((120, 3))
    with pytest.raises(InputError, match="standardize the features"):
        nleep(features, labels, components_per_class=2)


def test_nleep_rejects_more_mixture_components_than_rows():
    features, labels = _clusters(n_per_class=3)
    with pytest.raises(InputError, match="mixture components"):
        nleep(features, labels, components_per_class=5)


def test_knn_breaks_vote_ties_towards_the_nearest_neighbour():
    positions = np.array([0.0, 1.0, 3.0, 100.0, 101.0, 103.0])[:, None]
    labels = np.array([0, 0, 1, 1, 1, 0])
    # Leave-one-out (folds = N), k = 2: points 0, 1, 3 and 4 see a 1-1 vote whose nearest
    # neighbour has their class; points 2 and 5 see two neighbours of the other class.
    assert knn_accuracy(positions, labels, k=2, folds=6) == pytest.approx(4 / 6)
    assert knn_accuracy(positions, 1 - labels, k=2, folds=6) == pytest.approx(4 / 6)


def test_knn_matches_scikit_learn_on_the_same_stratified_folds():
    rng = np.random.default_rng(1)
    features = rng.standard_normal((300, 8))
    labels = (features[:, 0] + 0.7 * rng.standard_normal(300) > 0).astype(int)
    fold_of = _stratified_folds(labels, 5, seed=4)
    correct = 0
    for fold in range(5):
        test = fold_of == fold
        model = KNeighborsClassifier(5, algorithm="brute").fit(features[~test], labels[~test])
        correct += int((model.predict(features[test]) == labels[test]).sum())
    assert knn_accuracy(features, labels, k=5, folds=5, seed=4) == pytest.approx(correct / 300)


def test_knn_folds_are_stratified_and_balanced():
    labels = np.repeat(np.arange(3), [50, 30, 20])
    fold_of = _stratified_folds(labels, 5, seed=0)
    per_fold = np.array([np.bincount(labels[fold_of == f], minlength=3) for f in range(5)])
    assert (per_fold == [10, 6, 4]).all()


def test_knn_is_perfect_on_separated_clusters_and_near_chance_on_noise():
    features, labels = _clusters(spread=20.0)
    assert knn_accuracy(features, labels) == 1.0
    rng = np.random.default_rng(0)
    noise_labels = rng.integers(0, 4, 400)
    assert knn_accuracy(rng.standard_normal((400, 5)), noise_labels) < 0.4


# --------------------------------------------------------------------------- ranking


def test_evaluate_ranking_of_a_perfect_ranking():
    result = evaluate_ranking([3.0, 2.0, 1.0, 0.0], [0.9, 0.8, 0.7, 0.6])
    assert result == {
        "weighted_tau": pytest.approx(1.0),
        "pearson": pytest.approx(1.0),
        "top1_regret": 0.0,
        "top3_hit": True,
    }


def test_evaluate_ranking_regret_is_what_the_best_scored_candidate_loses():
    result = evaluate_ranking([0.1, 0.9, 0.5, 0.3, 0.4], [0.95, 0.70, 0.75, 0.72, 0.80])
    assert result["top1_regret"] == pytest.approx(0.95 - 0.70)
    assert result["top3_hit"] is False
    assert result["weighted_tau"] < 0


def test_evaluate_ranking_uses_hyperbolic_weighted_tau():
    scores, truth = [0.3, 0.1, 0.4, 0.2, 0.5], [0.6, 0.9, 0.7, 0.5, 0.8]
    expected = stats.weightedtau(scores, truth, weigher=lambda r: 1 / (r + 1)).statistic
    assert evaluate_ranking(scores, truth)["weighted_tau"] == pytest.approx(expected)


def test_evaluate_ranking_rejects_mismatched_lengths():
    with pytest.raises(InputError, match="truth has 2 entries for 3 candidates"):
        evaluate_ranking([1.0, 2.0, 3.0], [1.0, 2.0])


# --------------------------------------------------------------------------- registry


def test_registry_lists_the_builtins_in_the_order_the_spec_check_knows_them():
    assert list(ESTIMATORS) == [
        "logme",
        "logme_icml",
        "h_score",
        "regularized_h_score",
        "transrate",
        "gbc",
        "sfda",
        "parc",
        "nleep",
        "knn",
        "leep",
        "nce",
    ]
    assert list(HEAD_ESTIMATORS) == ["leep", "nce"]
    # the spec checks names without importing the estimators: its lists must be these
    assert list(ESTIMATORS) == list(names.BUILTIN_ESTIMATORS)
    assert [n for n, e in ESTIMATORS.items() if e.needs == "features"] == list(
        names.FEATURE_ESTIMATORS
    )
    assert list(HEAD_ESTIMATORS) == list(names.HEAD_ESTIMATORS)


def test_registry_records_say_unit_direction_task_and_paper():
    assert ESTIMATORS["logme"].unit == "evidence/sample"
    assert ESTIMATORS["knn"].unit == "score"  # accuracy, R² or micro-F1 by task
    assert ESTIMATORS["nce"].unit == "nats"
    assert ESTIMATORS["h_score"].unit == "score"
    for estimator in ESTIMATORS.values():
        assert isinstance(estimator, Estimator)
        assert estimator.direction == "higher"
        assert estimator.tasks[0] == "classification"
        assert estimator.label and estimator.paper
    assert {n for n, e in ESTIMATORS.items() if e.needs == "source_probs"} == {"leep", "nce"}


def test_every_registered_estimator_returns_a_python_float():
    features, labels = _clusters(n_per_class=40)
    probs, head_labels = _source_head()
    for estimator in ESTIMATORS.values():
        inputs, y = (
            (probs, head_labels) if estimator.needs == "source_probs" else (features, labels)
        )
        assert type(estimator(inputs, y)) is float
    assert HEAD_ESTIMATORS["nce"](probs, head_labels) == nce(probs.argmax(axis=1), head_labels)
    assert ESTIMATORS["logme_icml"](features, labels) == logme(features, labels, solver="icml")


def test_estimator_record_refuses_a_lower_is_better_direction():
    with pytest.raises(ValueError, match="return the negated score"):
        Estimator("distance", h_score, direction="lower")


# --------------------------------------------------------------------------- validation


def test_rejects_features_with_nan_naming_the_count():
    features, labels = _clusters()
    features[[3, 7], 0] = np.nan
    with pytest.raises(InputError, match="features has 2 NaN or infinite values; drop or impute"):
        logme(features, labels)


def test_rejects_labels_of_another_length():
    features, labels = _clusters()
    with pytest.raises(InputError, match="labels has 119 entries for 120 rows"):
        h_score(features, labels[:-1])


def test_rejects_a_single_class():
    features, _ = _clusters()
    with pytest.raises(InputError, match="1 distinct class"):
        transrate(features, np.zeros(len(features), dtype=int))


def test_rejects_probabilities_whose_rows_do_not_sum_to_one():
    probs, labels = _source_head()
    probs[0] *= 1.01
    with pytest.raises(InputError, match="1 rows of source_probs do not sum to 1"):
        leep(probs, labels)


def test_rejects_negative_probabilities_as_logits():
    probs, labels = _source_head()
    with pytest.raises(InputError, match="not logits"):
        leep(np.log(probs), labels)


def test_rejects_one_dimensional_features_and_too_few_rows():
    with pytest.raises(InputError, match="must be 2-D"):
        check_features(np.arange(5.0))
    with pytest.raises(InputError, match="at least 2 rows"):
        check_features(np.ones((1, 3)))


def test_rejects_too_few_samples_per_class_when_asked():
    with pytest.raises(InputError, match="class 'b' has 1 sample"):
        check_labels(np.array(["a", "a", "b"]), 3, min_per_class=2)


def test_recodes_arbitrary_labels_to_contiguous_ids():
    codes, n_classes = check_labels(np.array([30, -2, 30, 7]), 4)
    assert n_classes == 3
    assert codes.tolist() == [2, 0, 2, 1]


def test_accepts_probabilities_within_tolerance():
    probs = np.array([[0.5, 0.5 + 1e-9], [1.0, 0.0]])
    assert check_probabilities(probs, 2).dtype == np.float64


def test_invalid_input_errors_are_value_errors():
    assert issubclass(InputError, ValueError)

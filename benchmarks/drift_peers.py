"""Our drift verdicts against alibi-detect, Evidently and NannyML on the same subsets (issue #15).

Runs in a virtual environment of its own (the peers pin their own dependencies), after
``benchmarks/drift.py`` has written the features and our results under ``/tmp/modelscout-drift``:

    python3 -m venv /tmp/venv-drift
    /tmp/venv-drift/bin/pip install -r benchmarks/requirements-drift-peers.txt
    /tmp/venv-drift/bin/python benchmarks/drift_peers.py --repeats 30

On the first ``--repeats`` subsets of each chosen cell (the same row indices ours ran on):

- **alibi-detect** ``MMDDrift`` (PyTorch backend, ``p_val`` 0.05, the same 500 permutations):
  its verdict, MMD² and p-value against our ``mmd`` test's, and its bandwidth against ours;
- **Evidently** embeddings drift, its default method as ``EmbeddingsDriftMetric`` chooses it (a
  classifier's ROC AUC, with a bootstrap threshold below 1000 reference rows and 0.55 from
  1000 on) and its MMD method (default threshold 0.015, and with its bootstrap);
- **NannyML** ``DomainClassifierCalculator`` (LightGBM, 5-fold AUROC; alert above 0.65).

Prints the rate each flags drift per cell and how often it agrees with our verdict (the three
feature-space tests at ALPHA / 3) and with our MMD at 0.05; writes everything to
``/tmp/modelscout-drift/peers.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

import nannyml  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from alibi_detect.cd import MMDDrift  # noqa: E402
from evidently.legacy.metrics.data_drift.embedding_drift_methods import (  # noqa: E402
    MMDDriftMethod,
    model,
)
from nannyml.drift.multivariate.domain_classifier.calculator import (  # noqa: E402
    DEFAULT_LGBM_HYPERPARAMS,
)

CACHE = Path("/tmp/modelscout-drift")
PROPORTIONS = (0.0, 0.02, 0.05, 0.1)
ALPHA = 0.05  # monitor/verdict.py's ALPHA, split over its three feature-space tests
PERMUTATIONS = 500  # measure/drift.py's PERMUTATIONS


def alibi(reference: np.ndarray, current: np.ndarray, seed: int) -> dict[str, Any]:
    """alibi-detect's MMD test with its defaults but our permutation count."""
    torch.manual_seed(seed)
    detector = MMDDrift(
        reference, backend="pytorch", p_val=0.05, n_permutations=PERMUTATIONS, device="cpu"
    )
    found = detector.predict(current)["data"]
    sigma = float(detector._detector.kernel.sigma.detach().numpy()[0])
    return {
        "drift": bool(found["is_drift"]),
        "p_value": float(found["p_val"]),
        "mmd2": float(found["distance"]),
        # exp(-d² / (2 σ²)): comparable with our exp(-d² / bandwidth)
        "bandwidth": 2 * sigma**2,
    }


def evidently(reference: np.ndarray, current: np.ndarray) -> dict[str, Any]:
    """Evidently's embedding drift methods, called as its EmbeddingsDriftMetric calls them."""
    out = {}
    methods = {
        # EmbeddingsDriftMetric.calculate: model(bootstrap=reference rows < 1000)
        "default": model(bootstrap=len(reference) < 1000),
        "mmd": MMDDriftMethod(),
        "mmd_bootstrap": MMDDriftMethod(bootstrap=True),
    }
    for name, method in methods.items():
        score, drift, _ = method(pd.DataFrame(current), pd.DataFrame(reference))
        out[name] = {"score": float(score), "drift": bool(drift)}
    return out


def nanny(reference: np.ndarray, current: np.ndarray) -> dict[str, Any]:
    """NannyML's domain classifier, one chunk the size of the current rows."""
    columns = [f"f{i}" for i in range(reference.shape[1])]
    calculator = nannyml.DomainClassifierCalculator(
        feature_column_names=columns,
        chunk_size=len(current),
        # its defaults but one thread (n_jobs=-1 fights the other processes on a busy machine)
        hyperparameters={**DEFAULT_LGBM_HYPERPARAMS, "n_jobs": 1, "verbosity": -1},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calculator.fit(pd.DataFrame(reference, columns=columns))
        result = calculator.calculate(pd.DataFrame(current, columns=columns))
    row = result.filter(period="analysis").to_df().iloc[-1]
    return {
        "auroc": float(row[("domain_classifier_auroc", "value")]),
        # its alert: outside [0.45, 0.65], so an AUROC below 0.45 alerts too
        "drift": bool(row[("domain_classifier_auroc", "alert")]),
        "above": bool(row[("domain_classifier_auroc", "value")] > 0.65),
    }


def chosen(results: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Our results on the first ``--repeats`` subsets of each chosen (n, p)."""
    return [
        r
        for r in results
        if r["p"] in args.proportions and r["n"] in args.sizes and r["repeat"] < args.repeats
    ]


def peers(ours: dict[str, Any], features: dict[str, np.ndarray], skip: set[str]) -> dict[str, Any]:
    """Every peer's answer on one of our subsets (but those in ``skip``), with seconds per
    peer."""
    cell = ours["subset"]
    reference = features["banking_test"][cell["reference"]]
    current = np.vstack(
        [
            features["banking_test"][cell["current_banking"]],
            features["clinc"][cell["current_clinc"]],
        ]
    )
    # in a seeded random order: NannyML's folds are not shuffled, and with the CLINC150 rows as
    # one block at the end its AUROC falls below 0.5 on a real shift (see docs/benchmarks.md)
    current = current[np.random.default_rng(ours["repeat"]).permutation(len(current))]
    out: dict[str, Any] = {"n": ours["n"], "p": ours["p"], "repeat": ours["repeat"], "seconds": {}}
    for name, run in (
        ("alibi", lambda: alibi(reference, current, ours["repeat"])),
        ("evidently", lambda: evidently(reference, current)),
        ("nannyml", lambda: nanny(reference, current)),
    ):
        if name in skip:
            continue
        start = time.perf_counter()
        out[name] = run()
        out["seconds"][name] = time.perf_counter() - start
    return out


def flags(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, tuple[bool, bool]]:
    """(their flag, the ours it is compared with) per peer verdict present; against our verdict
    (the three feature-space tests) where ours has one (the classifier test ran)."""
    theirs_flags = {}
    if "alibi" in theirs:
        theirs_flags["alibi MMD"] = theirs["alibi"]["drift"]
    if "evidently" in theirs:
        for name in ("default", "mmd", "mmd_bootstrap"):
            theirs_flags[f"Evidently {name}"] = theirs["evidently"][name]["drift"]
    if "nannyml" in theirs:
        theirs_flags["NannyML domain classifier (alert)"] = theirs["nannyml"]["drift"]
        theirs_flags["NannyML AUROC > 0.65 only"] = theirs["nannyml"]["above"]
    pairs = {}
    if "alibi" in theirs:
        mmd = ours["tests"]["mmd"]["p_value"] < 0.05
        pairs["alibi MMD vs our MMD (both p < 0.05)"] = (theirs["alibi"]["drift"], mmd)
    if ours["features_level"] is not None:
        verdict = ours["features_level"] != "no drift"
        for name, flag in theirs_flags.items():
            pairs[f"{name} vs our verdict"] = (flag, verdict)
    return pairs


def agreement_table(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[str]:
    """Per comparison and cell: their flag rate, ours, and the share of subsets agreeing."""
    cells = sorted({(o["n"], o["p"]) for o, _ in pairs})
    names = list(dict.fromkeys(name for o, t in pairs for name in flags(o, t)))
    lines = [
        "| comparison | " + " | ".join(f"n={n}, p={p}" for n, p in cells) + " |",
        "|---|" + "---|" * len(cells),
    ]
    for name in names:
        row = []
        for n, p in cells:
            got = [
                flags(o, t)[name]
                for o, t in pairs
                if (o["n"], o["p"]) == (n, p) and name in flags(o, t)
            ]
            if not got:
                row.append("–")
                continue
            theirs, ours = np.mean([g[0] for g in got]), np.mean([g[1] for g in got])
            agree = np.mean([g[0] == g[1] for g in got])
            row.append(f"{theirs:.2f} / {ours:.2f} / {agree:.2f} ({len(got)})")
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return lines


def alibi_lines(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[str]:
    """Per n: the correlation of alibi's MMD² with ours, p-value differences, bandwidths."""
    lines = [
        "| n | subsets | Pearson r of MMD² | ours / alibi MMD² (median) | median abs. p difference "
        "| max abs. p difference | bandwidth ours / alibi (median) |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in sorted({o["n"] for o, _ in pairs}):
        got = [(o, t["alibi"]) for o, t in pairs if o["n"] == n and "alibi" in t]
        if not got:
            continue
        ours = np.array([o["tests"]["mmd"]["statistic"] for o, _ in got])
        theirs = np.array([a["mmd2"] for _, a in got])
        p_diff = np.abs([o["tests"]["mmd"]["p_value"] - a["p_value"] for o, a in got])
        ratio = [o["tests"]["mmd"]["detail"]["bandwidth"] / a["bandwidth"] for o, a in got]
        lines.append(
            f"| {n} | {len(got)} | {np.corrcoef(ours, theirs)[0, 1]:.3f} | "
            f"{np.median(ours / np.where(theirs == 0, np.nan, theirs)):.2f} | "
            f"{np.median(p_diff):.3f} | {np.max(p_diff):.3f} | {np.median(ratio):.3f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ours", type=Path, default=CACHE / "ours.json")
    parser.add_argument("--repeats", type=int, default=30, help="subsets per cell")
    parser.add_argument("--proportions", type=float, nargs="+", default=list(PROPORTIONS))
    parser.add_argument("--sizes", type=int, nargs="+", default=[200])
    parser.add_argument(
        "--nannyml-repeats", type=int, default=5, help="NannyML (slow) on this many per cell"
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=["alibi", "evidently", "nannyml"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=CACHE / "peers.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.getLogger("nannyml").setLevel(logging.ERROR)

    features = {name: np.load(CACHE / f"{name}.npy") for name in ("banking_test", "clinc")}
    results = chosen(json.loads(args.ours.read_text()), args)
    start = time.perf_counter()
    pairs = []
    for i, ours in enumerate(results):
        skip = set(args.skip) | ({"nannyml"} if ours["repeat"] >= args.nannyml_repeats else set())
        pairs.append((ours, peers(ours, features, skip)))
        if (i + 1) % 10 == 0:
            print(
                f"{i + 1}/{len(results)} subsets, {time.perf_counter() - start:.0f} s", flush=True
            )
    args.out.write_text(json.dumps([theirs for _, theirs in pairs]))
    seconds = {
        name: np.median([t["seconds"][name] for _, t in pairs if name in t["seconds"]])
        for name in ("alibi", "evidently", "nannyml")
        if name not in args.skip
    }
    print(
        f"\n{len(pairs)} subsets in {time.perf_counter() - start:.0f} s; median seconds per "
        "subset: " + ", ".join(f"{k} {v:.2f}" for k, v in seconds.items())
    )
    print("\nTheir flag rate / ours / agreement, per cell\n")
    print("\n".join(agreement_table(pairs)))
    if "alibi" not in args.skip:
        print("\nalibi-detect's MMD against ours\n")
        print("\n".join(alibi_lines(pairs)))


if __name__ == "__main__":
    main()

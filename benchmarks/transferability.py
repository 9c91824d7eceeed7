"""Time every transferability estimator on synthetic Gaussian class clusters.

Run from the repository root:

    PYTHONPATH=src python benchmarks/transferability.py

Prints a Markdown table: the best and the median of ``--repeats`` wall-clock times per
estimator for each case (and the least CPU time, which other processes on a shared machine
inflate less), next to a straightforward per-class LogME loop (the authors' structure: one
fixed-point iteration per class) for comparison. The features are class means drawn
from N(0, I/4) plus unit Gaussian noise, scaled per dimension by d^-1/2 so that, as with
real embeddings, a minority of directions holds most of the variance (80 % of it in 162
of 768 dimensions); the source head is a random linear softmax over 1000 source classes
on the 64 leading dimensions.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from modelscout.transferability import ESTIMATORS, gbc

CASES = ((20_000, 768, 150), (5_000, 384, 77))
SEED = 0


def make_clusters(n: int, dim: int, n_classes: int, seed: int = SEED):
    """Features (n, dim) and labels (n,) of Gaussian class clusters with a decaying spectrum."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, size=n)
    means = 0.5 * rng.standard_normal((n_classes, dim))
    features = means[labels] + rng.standard_normal((n, dim))
    features *= np.arange(1, dim + 1) ** -0.5
    source_logits = features[:, :64] @ rng.standard_normal((64, 1000))
    source_probs = np.exp(source_logits - source_logits.max(axis=1, keepdims=True))
    source_probs /= source_probs.sum(axis=1, keepdims=True)
    return features, labels, source_probs


def per_class_logme(features: np.ndarray, labels: np.ndarray) -> float:
    """LogME with the authors' loop structure: an SVD, then one solver loop per class."""
    n, dim = features.shape
    s, v = np.linalg.eigh(features.T @ features)
    s = np.clip(s, 0.0, None)
    evidences = []
    for c in range(labels.max() + 1):
        y = (labels == c).astype(np.float64)
        p = (v.T @ (features.T @ y)) ** 2
        alpha, beta = 1.0, 1.0
        for _ in range(11):
            t = alpha / beta
            gamma = (s / (s + t)).sum()
            m2 = (p / (s + t) ** 2).sum()
            res2 = (y @ y) - (p * (s + 2 * t) / (s + t) ** 2).sum()
            alpha, beta = gamma / (m2 + 1e-5), (n - gamma) / (res2 + 1e-5)
            if abs(alpha / beta - t) / t <= 1e-3:
                break
        evidences.append(
            (
                dim / 2 * np.log(alpha)
                + n / 2 * np.log(beta)
                - 0.5 * np.log(alpha + beta * s).sum()
                - beta / 2 * res2
                - alpha / 2 * m2
                - n / 2 * np.log(2 * np.pi)
            )
            / n
        )
    return float(np.mean(evidences))


def timed_rounds(
    runs: dict[str, Callable[[], float]], repeats: int
) -> dict[str, tuple[list[float], list[float], float]]:
    """Wall-clock and CPU seconds of ``repeats`` runs of each callable, and its value.

    Runs go round-robin (every callable once per round), so that load from other
    processes on a shared machine falls on all of them alike.
    """
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    values: dict[str, float] = {}
    for _ in range(repeats):
        for name, run in runs.items():
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            values[name] = run()
            wall[name].append(time.perf_counter() - start_wall)
            cpu[name].append(time.process_time() - start_cpu)
    return {name: (wall[name], cpu[name], values[name]) for name in runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per estimator (best kept)")
    args = parser.parse_args()

    columns = [f"N={n}, D={d}, C={c}" for n, d, c in CASES]
    rows: dict[str, list[str]] = {}
    for col, (n, dim, n_classes) in enumerate(CASES):
        features, labels, source_probs = make_clusters(n, dim, n_classes)
        inputs = {"features": features, "source_probs": source_probs}
        runs: dict[str, Callable[[], float]] = {
            name: partial(estimator, inputs[estimator.needs], labels)
            for name, estimator in ESTIMATORS.items()
        }
        runs["gbc (diagonal)"] = partial(gbc, features, labels, gaussian="diagonal")
        runs["logme, per-class loop"] = partial(per_class_logme, features, labels)
        for name, (wall, cpu, value) in timed_rounds(runs, args.repeats).items():
            best, median, best_cpu = min(wall), float(np.median(wall)), min(cpu)
            rows.setdefault(name, ["", ""])[col] = (
                f"{best:.3f} s (median {median:.3f} s, CPU {best_cpu:.3f} s)"
            )
            print(f"{columns[col]:24s} {name:24s} {best:7.3f} s  score {value:.6g}", flush=True)

    print()
    print(
        f"Wall-clock seconds, best of {args.repeats} runs (median; least CPU seconds, all "
        f"threads); {os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.2f} at the end."
    )
    print()
    print("| estimator | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name, cells in rows.items():
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

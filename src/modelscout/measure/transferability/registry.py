"""The estimator registry: every estimator a spec may name, built-in or from a plugin.

An :class:`Estimator` is a function of ``(features, labels)`` (or ``(source_probs, labels)``)
plus what the rest of modelscout needs to know about it: its unit, direction, the tasks it
serves, its label and paper. :data:`ESTIMATORS` maps each spec name to one.

Third-party packages add estimators through the entry-point group ``modelscout.estimators``,
e.g. in their ``pyproject.toml``::

    [project.entry-points."modelscout.estimators"]
    my_score = "my_package:my_score"

An entry point names either an :class:`Estimator` (whose name must be the entry point's) or
a plain function ``(features, labels) -> float`` (then unit "score", direction "higher",
task classification, needs features). Plugins are loaded once, the first time the registry is
read; a plugin that fails to load, or that would replace a built-in, is left out with an
:class:`EstimatorPluginWarning` that names it, and the run goes on.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache, partial
from importlib.metadata import EntryPoint, entry_points
from typing import Literal, get_args

from numpy.typing import ArrayLike

from modelscout.errors import UserError
from modelscout.measure.transferability.gbc import gbc
from modelscout.measure.transferability.hscore import h_score, regularized_h_score
from modelscout.measure.transferability.knn import knn_accuracy, knn_micro_f1, knn_r2
from modelscout.measure.transferability.leep import leep, nce_from_probs, nleep
from modelscout.measure.transferability.logme import (
    logme,
    logme_icml,
    logme_multilabel,
    logme_regression,
)
from modelscout.measure.transferability.names import ENTRY_POINT_GROUP
from modelscout.measure.transferability.parc import parc
from modelscout.measure.transferability.sfda import sfda
from modelscout.measure.transferability.transrate import transrate
from modelscout.records import TASKS, Task

__all__ = [
    "ESTIMATORS",
    "HEAD_ESTIMATORS",
    "Estimator",
    "EstimatorPluginWarning",
    "clear_plugin_cache",
    "get_estimator",
]

Needs = Literal["features", "source_probs"]
Direction = Literal["higher"]


class EstimatorPluginWarning(UserWarning):
    """An estimator plugin was left out of the registry; the message names it and says why."""


@dataclass(frozen=True)
class Estimator:
    """A transferability estimator and what modelscout needs to know about it.

    Calling it calls ``function`` and returns a Python ``float``.
    """

    name: str  # the name a spec uses
    function: Callable[[ArrayLike, ArrayLike], float]  # (features or source_probs, labels)
    unit: str = "score"
    # Decisions rank every estimator higher-is-better; an estimator whose natural score is
    # lower-is-better returns it negated.
    direction: Direction = "higher"
    tasks: tuple[Task, ...] = ("classification",)
    needs: Needs = "features"  # "source_probs": the softmax outputs of a source head
    label: str = ""  # the name people read; the spec name when empty
    paper: str = ""
    # The function of each task in ``tasks`` that is not ``function``'s: (features, targets)
    # with targets (N,) float numbers (regression) or (N, L) 0/1 indicators (multilabel).
    forms: Mapping[Task, Callable[[ArrayLike, ArrayLike], float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or not callable(self.function):
            raise ValueError(f"estimator {self.name!r} needs a name and a callable function")
        if self.direction not in get_args(Direction):
            raise ValueError(
                f"estimator {self.name!r} has direction {self.direction!r}; estimators are "
                "ranked higher-is-better, so return the negated score with direction 'higher'"
            )
        if self.needs not in get_args(Needs):
            raise ValueError(
                f"estimator {self.name!r} needs {self.needs!r}; use one of {get_args(Needs)}"
            )
        if not self.tasks or not set(self.tasks) <= set(TASKS):
            raise ValueError(
                f"estimator {self.name!r} has tasks {self.tasks!r}; use some of {TASKS}"
            )
        object.__setattr__(self, "tasks", tuple(self.tasks))  # a plugin may give a list
        if not self.label:
            object.__setattr__(self, "label", self.name)

    def form(self, task: Task) -> Callable[[ArrayLike, ArrayLike], float] | None:
        """The function that scores ``task``'s targets; None when it has no form for it
        (the run then skips it, with that reason, rather than fake a score)."""
        if task not in self.tasks:
            return None
        return self.forms.get(task, self.function)

    def __call__(self, inputs: ArrayLike, labels: ArrayLike) -> float:
        """The classification score of ``inputs`` (features (N, D) or source_probs (N, Z)) for
        ``labels`` (N,); :meth:`form` gives the function of another task."""
        return float(self.function(inputs, labels))


_LOGME_PAPER = "You et al., LogME, ICML 2021; Ranking and Tuning Pre-trained Models, JMLR 2022"
# LogME's papers define its regression form (the target column itself) for both solvers;
# a label set is the classification form with indicator columns holding several or no 1s.
_LOGME_FORMS: Mapping[Task, Callable[[ArrayLike, ArrayLike], float]] = {
    "regression": logme_regression,
    "multilabel": logme_multilabel,
}
_LOGME_ICML_FORMS: Mapping[Task, Callable[[ArrayLike, ArrayLike], float]] = {
    "regression": partial(logme_regression, solver="icml"),
    "multilabel": partial(logme_multilabel, solver="icml"),
}
# The other built-ins are classification-only: their papers define them on class labels
# (class means, class-conditional coding rates, Fisher discriminants, one-hot RDMs,
# a source head's class probabilities) and give no regression or multi-label form.
BUILTINS: dict[str, Estimator] = {
    e.name: e
    for e in (
        Estimator(
            "logme",
            logme,
            "evidence/sample",
            tasks=TASKS,
            label="LogME",
            paper=_LOGME_PAPER,
            forms=_LOGME_FORMS,
        ),
        Estimator(
            "logme_icml",
            logme_icml,
            "evidence/sample",
            tasks=TASKS,
            label="LogME (ICML)",
            paper=_LOGME_PAPER,
            forms=_LOGME_ICML_FORMS,
        ),
        Estimator("h_score", h_score, label="H-score", paper="Bao et al., ICIP 2019"),
        Estimator(
            "regularized_h_score",
            regularized_h_score,
            label="regularized H-score",
            paper="Ibrahim et al., ECML-PKDD 2022",
        ),
        Estimator("transrate", transrate, label="TransRate", paper="Huang et al., ICML 2022"),
        Estimator("gbc", gbc, label="GBC", paper="Pandy et al., CVPR 2022"),
        Estimator("sfda", sfda, label="SFDA", paper="Shao et al., ECCV 2022"),
        Estimator("parc", parc, label="PARC", paper="Bolya et al., NeurIPS 2021"),
        Estimator("nleep", nleep, "log-likelihood", label="N-LEEP", paper="Li et al., CVPR 2021"),
        Estimator(
            "knn",
            knn_accuracy,
            tasks=TASKS,
            label="kNN",
            paper=(
                "Wu et al., CVPR 2018; regression: Stone, Ann. Stat. 1977; "
                "multi-label: Zhang and Zhou, Pattern Recognition 2007"
            ),
            forms={"regression": knn_r2, "multilabel": knn_micro_f1},
        ),
        Estimator(
            "leep",
            leep,
            "log-likelihood",
            needs="source_probs",
            label="LEEP",
            paper="Nguyen et al., ICML 2020",
        ),
        Estimator(
            "nce",
            nce_from_probs,
            "nats",
            needs="source_probs",
            label="NCE",
            paper="Tran et al., ICCV 2019",
        ),
    )
}
"""The built-in estimators, in the order of :data:`names.BUILTIN_ESTIMATORS`."""


def _warn(entry: EntryPoint, why: str) -> None:
    warnings.warn(
        f"estimator plugin {entry.name!r} ({entry.value}) is left out: {why}",
        EstimatorPluginWarning,
        stacklevel=2,
    )


def _as_estimator(name: str, target: object) -> Estimator:
    """The entry point's object as an Estimator: itself, or a plain function with defaults."""
    if isinstance(target, Estimator):
        if target.name != name:
            raise ValueError(f"its Estimator is named {target.name!r}, its entry point {name!r}")
        return target
    if callable(target):
        return Estimator(name, target)
    raise TypeError(
        f"it is a {type(target).__name__}, neither an Estimator nor a function "
        "of (features, labels)"
    )


@cache
def _registry() -> tuple[dict[str, Estimator], dict[str, str]]:
    """The built-ins and the plugins that loaded, and why each other plugin did not."""
    estimators, failures = dict(BUILTINS), {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in BUILTINS:
            _warn(entry, f"{entry.name!r} is a built-in estimator; rename the entry point")
            continue
        if entry.name in estimators or entry.name in failures:
            _warn(entry, "another installed plugin already has that name")
            continue
        try:
            estimators[entry.name] = _as_estimator(entry.name, entry.load())
        except Exception as error:  # a plugin can fail any way; it must not stop the run
            failures[entry.name] = f"{type(error).__name__}: {error}"
            _warn(entry, failures[entry.name])
    return estimators, failures


def clear_plugin_cache() -> None:
    """Forget the loaded plugins: the next read of the registry looks for them again."""
    _registry.cache_clear()


class _Registry(Mapping[str, Estimator]):
    """Spec name -> Estimator, built-ins then plugins; loads the plugins on first read."""

    def __init__(self, needs: Needs | None = None) -> None:
        self._needs = needs

    def _selected(self) -> dict[str, Estimator]:
        estimators = _registry()[0]
        if self._needs is None:
            return estimators
        return {name: e for name, e in estimators.items() if e.needs == self._needs}

    def __getitem__(self, name: str) -> Estimator:
        return self._selected()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._selected())

    def __len__(self) -> int:
        return len(self._selected())

    def __repr__(self) -> str:
        return f"<estimators {', '.join(self)}>"


ESTIMATORS: Mapping[str, Estimator] = _Registry()
"""Every estimator by spec name: the built-ins, then the plugins that loaded."""

HEAD_ESTIMATORS: Mapping[str, Estimator] = _Registry("source_probs")
"""The estimators that read a source head's ``(source_probs, labels)``, not features."""


def get_estimator(name: str) -> Estimator:
    """The estimator a spec names; ``UserError`` (one line) for one that is not registered."""
    estimators, failures = _registry()
    if name in estimators:
        return estimators[name]
    if name in failures:
        raise UserError(
            f"estimator {name!r} is installed but its plugin failed to load ({failures[name]}); "
            "fix or uninstall that package, or drop the estimator from the spec"
        )
    raise UserError(f"unknown estimator {name!r}; use any of {', '.join(estimators)}")

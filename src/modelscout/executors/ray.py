"""The Ray executor: the jobs of a run as tasks on a Ray cluster (``executor: ray``).

One task per candidate pass, in a fresh worker process of its own (``max_calls=1``), as the
local executor forks one process per pass, asking for the CPUs, the GPU and the memory that
pass needs; one task per probe and per learning curve, their features put once in Ray's
object store. Tasks hand their results back: the driver alone writes the store, as it does
under the local executor. A worker that dies fails only its candidate. docs/ray.md says how to
run against an existing cluster and what each task asks for.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import ray
from ray import exceptions as ray_errors

from modelscout.errors import CandidateError, UserError, one_line
from modelscout.measure.encode import EncodeJob, EncodeResult, run_encode
from modelscout.measure.model_pass import PassJob, PassResult, run_model_pass
from modelscout.measure.probe import ProbeJob, ProbeResult, cross_validate_many
from modelscout.measure.probe.curve_points import CurvePoints, curve_points_many
from modelscout.measure.verify import VerifyJob, VerifyResult, run_verify

logger = logging.getLogger(__name__)

GIB = 2**30
# A model pass's memory request: the weights (fp32) times a factor for the activations, the
# runtime's copies and the ONNX export, plus the features, never under a floor that covers an
# imported torch. A fine-tune adds gradients and optimizer state: a larger factor.
PASS_FLOOR = 1 * GIB
PASS_FACTOR = 4
VERIFY_FACTOR = 8
BYTES_PER_PARAM = 4
PROBE_FLOOR = GIB // 4  # a probe or curve task: scikit-learn on the features
PROBE_FACTOR = 4
CONNECT_TIMEOUT_S = 5.0
# Ray errors that mean the worker (or its node) is gone, not that the job raised
DIED = (
    ray_errors.WorkerCrashedError,
    ray_errors.NodeDiedError,
    ray_errors.OutOfMemoryError,
    ray_errors.LocalRayletDiedError,
    ray_errors.ObjectLostError,
)


class RayExecutor:
    """The ``Executor`` of a Ray cluster: ``address`` (else RAY_ADDRESS, else a local Ray
    started for the run); each model pass asks for ``threads`` CPUs (None: 1)."""

    name = "ray"

    def __init__(self, threads: int | None = None, address: str | None = None, seed: int = 0):
        self.threads, self.seed = threads, seed
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self._connected = _connect(self.address)  # False: a connection made before us
        self._refs: dict[int, tuple[Any, ray.ObjectRef]] = {}  # id -> (object, its ref)
        try:
            cpus = int(ray.cluster_resources().get("CPU", 1))
        except Exception:
            self.close()
            raise
        self.passes_at_once = max(1, cpus // (threads or 1))

    # -- one candidate at a time -----------------------------------------------------------
    def model_pass(self, job: PassJob) -> PassResult:
        """The pass as a task of its own, with what it needs requested (``pass_resources``)."""
        needs = pass_resources(job, self.threads)
        _check_feasible(needs)
        task = _model_pass_task.options(**needs)
        return _result(task.remote(job))

    def encode(self, job: EncodeJob) -> EncodeResult:
        """The features-only pass as a task of its own, asking for what a pass asks."""
        needs = encode_resources(job, self.threads)
        _check_feasible(needs)
        return _result(_encode_task.options(**needs).remote(job))

    def verify(self, job: VerifyJob) -> VerifyResult:
        """The fine-tune as a task of its own; a GPU asked for when it trains on CUDA."""
        needs = verify_resources(job, self.threads)
        _check_feasible(needs)
        task = _verify_task.options(**needs)
        return _result(task.remote(job))

    # -- every candidate at once -----------------------------------------------------------
    def probes(
        self,
        jobs: Sequence[ProbeJob],
        on_result: Callable[[int, ProbeResult | Exception], None],
    ) -> None:
        self._refs.clear()  # a new run's (or round's) features: the last ones are let go
        submit = lambda job, needs, _: _probe_task.options(**needs).remote(  # noqa: E731
            *self._shipped(job), None, ()
        )
        _as_finished(_submitted(jobs, [None] * len(jobs), submit, on_result), on_result)

    def curves(
        self,
        jobs: Sequence[ProbeJob],
        full: Sequence[np.ndarray],
        fractions: tuple[float, ...],
        on_result: Callable[[int, CurvePoints | Exception], None],
    ) -> None:
        submit = lambda job, needs, predictions: _probe_task.options(**needs).remote(  # noqa: E731
            *self._shipped(job), predictions, fractions
        )
        _as_finished(_submitted(jobs, list(full), submit, on_result), on_result)

    def _shipped(self, job: ProbeJob) -> tuple[ProbeJob, ray.ObjectRef, ray.ObjectRef]:
        """The job without its inputs and targets, and those two in the object store: put
        once per run (a candidate's features serve its probe and its curve; the targets every
        candidate), not shipped with every task."""
        light = replace(job, inputs=None, targets=None)
        return light, self._put(job.inputs), self._put(job.targets)

    def _put(self, value: Any) -> ray.ObjectRef:
        # keyed by id, the object held with its ref so that its id is not reused meanwhile
        if id(value) not in self._refs:
            self._refs[id(value)] = (value, ray.put(value))
        return self._refs[id(value)][1]

    def close(self) -> None:
        """Drop the object store's copies; disconnect from Ray if this executor connected."""
        self._refs.clear()
        if self._connected and ray.is_initialized():
            ray.shutdown()
        self._connected = False


def _connect(address: str | None) -> bool:
    """``ray.init`` once (quiet: no dashboard, no usage stats, workers' logs kept on the
    cluster); False when this process was already connected. An address that does not answer
    is a ``UserError`` naming it."""
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address is not None and address not in ("auto", "local"):
        _check_answers(address)
    try:
        ray.init(
            address=address or "local",  # "local": never a cluster found in /tmp by chance
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
            configure_logging=True,
        )
    except (ConnectionError, ValueError, RuntimeError, TimeoutError) as error:
        raise UserError(
            f"cannot connect to the Ray cluster at {address or 'a local Ray'} "
            f"({one_line(error)}); check --address or RAY_ADDRESS"
        ) from None
    return True


def _check_answers(address: str) -> None:
    """A quick TCP check of ``host:port`` (or ``ray://host:port``): ray.init would retry a
    silent address for minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S):
            pass
    except (OSError, ValueError) as error:
        raise UserError(
            f"the Ray cluster at {address} does not answer ({one_line(error)}); "
            "check --address (host:port of the head's GCS, or ray://host:10001) or RAY_ADDRESS"
        ) from None


# -- what each task asks for -----------------------------------------------------------------
def pass_resources(job: PassJob, threads: int | None) -> dict[str, Any]:
    """The model pass's request: ``threads`` CPUs (None: 1), one GPU when it measures one,
    and memory for the model (``PASS_FACTOR`` times its fp32 weights) and its features."""
    params = job.meta.params or 0
    width = job.meta.embedding_dim or 0
    memory = params * BYTES_PER_PARAM * PASS_FACTOR + len(job.items) * width * 4
    return {
        "num_cpus": threads or 1,
        "num_gpus": 1 if job.gpu is not None else 0,
        "memory": int(PASS_FLOOR + memory),
    }


def encode_resources(job: EncodeJob, threads: int | None) -> dict[str, Any]:
    """A features-only pass's request: as a model pass on the CPU."""
    params = job.meta.params or 0
    memory = (
        params * BYTES_PER_PARAM * PASS_FACTOR + len(job.items) * (job.meta.embedding_dim or 0) * 4
    )
    return {"num_cpus": threads or 1, "num_gpus": 0, "memory": int(PASS_FLOOR + memory)}


def verify_resources(job: VerifyJob, threads: int | None) -> dict[str, Any]:
    """The fine-tune's request: as a pass, a GPU when it trains on CUDA, a larger factor."""
    params = job.meta.params or 0
    return {
        "num_cpus": threads or 1,
        "num_gpus": 1 if job.device.startswith("cuda") else 0,
        "memory": int(PASS_FLOOR + params * BYTES_PER_PARAM * VERIFY_FACTOR),
    }


def probe_resources(job: ProbeJob) -> dict[str, Any]:
    """A probe's or a curve's request: one CPU, memory for a few copies of its inputs."""
    size = getattr(job.inputs, "nbytes", None)
    if size is None and hasattr(job.inputs, "data"):  # a sparse matrix
        size = job.inputs.data.nbytes * 3
    return {"num_cpus": 1, "memory": int(PROBE_FLOOR + PROBE_FACTOR * (size or 0))}


def _check_feasible(needs: dict[str, Any]) -> None:
    """``CandidateError`` when no node of the cluster has what the task asks for: Ray would
    keep such a task waiting for ever."""
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    wanted = {"CPU": needs["num_cpus"], "GPU": needs.get("num_gpus", 0), "memory": needs["memory"]}
    if any(all(node.get(k, 0) >= v for k, v in wanted.items() if v) for node in nodes):
        return
    raise CandidateError(
        f"no node of the Ray cluster has {wanted['CPU']} CPUs"
        + (f", {wanted['GPU']} GPU" if wanted["GPU"] else "")
        + f" and {wanted['memory'] / GIB:.1f} GiB of memory for its task; "
        "give fewer --threads or add a larger node"
    )


# -- results back in the driver --------------------------------------------------------------
def _result(ref: ray.ObjectRef) -> Any:
    """The task's result; the exception it raised as itself (CandidateError and friends as
    under the local executor), a dead worker as the ``CandidateError`` that says so."""
    try:
        return ray.get(ref)
    except ray_errors.RayTaskError as error:
        raise _unwrapped(error) from error
    except DIED as error:
        raise _died(error) from None
    except ray_errors.RayError as error:
        raise CandidateError(f"its Ray task failed ({one_line(error)})") from None


def _unwrapped(error: ray_errors.RayTaskError) -> BaseException:
    cause = error.cause
    if isinstance(cause, (SystemExit, KeyboardInterrupt)) or cause is None:
        return _died(error)
    return cause


def _died(error: BaseException) -> CandidateError:
    kind = type(error).__name__
    if isinstance(error, ray_errors.RayTaskError) and error.cause is not None:
        kind = type(error.cause).__name__
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return CandidateError(f"its Ray worker died ({kind}: {text[:200]})")


def _submitted(
    jobs: Sequence[ProbeJob],
    extra: list[Any],
    submit: Callable[[ProbeJob, dict[str, Any], Any], ray.ObjectRef],
    on_result: Callable[[int, Any], None],
) -> list[tuple[int, ray.ObjectRef]]:
    """Each job submitted as a task, with its index; a job no node can take, or whose
    submission fails (the object store full, say), gets its exception at once."""
    refs = []
    for index, (job, more) in enumerate(zip(jobs, extra, strict=True)):
        try:
            needs = probe_resources(job)
            _check_feasible(needs)
            refs.append((index, submit(job, needs, more)))
        except CandidateError as error:
            on_result(index, error)
        except ray_errors.RayError as error:
            on_result(index, CandidateError(f"its Ray task failed ({one_line(error)})"))
    return refs


def _as_finished(
    refs: list[tuple[int, ray.ObjectRef]], on_result: Callable[[int, Any], None]
) -> None:
    """``on_result(index, result or exception)`` in the driver as each task finishes, so a
    killed run keeps the finished ones; what is still running is cancelled if storing fails,
    and fails with the reason if the cluster stops answering."""
    index = {ref: i for i, ref in refs}
    waiting = [ref for _, ref in refs]
    try:
        while waiting:
            try:
                done, waiting = ray.wait(waiting, num_returns=1)
            except ray_errors.RayError as error:  # the cluster itself is gone
                lost = CandidateError(f"its Ray task was lost ({one_line(error)})")
                for ref in waiting:
                    on_result(index[ref], lost)
                waiting = []
                return
            try:
                found = _result(done[0])
            except Exception as error:  # the job's own exception, or its dead worker
                found = error
            on_result(index[done[0]], found)
    finally:
        for ref in waiting:
            ray.cancel(ref, force=True)


# -- the tasks: modelscout must be importable on every node (docs/ray.md) ----------------------
@ray.remote(max_calls=1, max_retries=0)  # a fresh worker process per pass, never re-run
def _model_pass_task(job: PassJob) -> PassResult:
    return run_model_pass(job)


@ray.remote(max_calls=1, max_retries=0)
def _encode_task(job: EncodeJob) -> EncodeResult:
    return run_encode(job)


@ray.remote(max_calls=1, max_retries=0)
def _verify_task(job: VerifyJob) -> VerifyResult:
    return run_verify(job)


@ray.remote(max_retries=0)
def _probe_task(
    job: ProbeJob,
    inputs: Any,
    targets: Any,
    full: np.ndarray | None,
    fractions: tuple[float, ...],
) -> Any:
    """The job's folds (its probe, or with ``full`` given its curve points), one thread."""
    job = replace(job, inputs=inputs, targets=targets)
    if full is None:
        return cross_validate_many([job], n_jobs=1)[0]
    return curve_points_many([job], [full], fractions, 1)[0]

"""Helper processes die with the main process: a killed `modelscout rank` leaves nothing behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import psutil
import pytest

STARTUP_S = 120  # the fork server imports torch first; a loaded machine makes that slow
GONE_S = 5


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running; a zombie has ended (only its parent's wait is missing)."""
    out = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                out.append(process)
        except psutil.NoSuchProcess:
            pass
    return out


def _measuring_process_started(main: psutil.Process) -> list[psutil.Process] | None:
    """Every descendant of ``main`` once the candidate's measuring process (forked by the fork
    server, whose command line it keeps) is among them, else None."""
    try:
        descendants = main.children(recursive=True)
        forked = [p for p in descendants if p.ppid() != main.pid and _from_server(p)]
        return descendants if forked else None
    except psutil.Error:  # main, or a short-lived child of it, has just ended
        return None


def _from_server(process: psutil.Process) -> bool:
    return "multiprocessing.forkserver" in " ".join(process.cmdline())


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_killing_rank_takes_its_worker_processes_with_it(tmp_path, small_csv, tiny_bert, sig):
    command = [sys.executable, "-m", "modelscout", "rank", "--data", small_csv, "-c", tiny_bert]
    command += ["--no-baseline", "--quiet", "--output", tmp_path / "out"]
    rank = subprocess.Popen(
        [str(part) for part in command],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    main = psutil.Process(rank.pid)
    descendants: list[psutil.Process] = []
    try:
        started = _wait_for(
            lambda: _measuring_process_started(main) or rank.poll() is not None, STARTUP_S
        )
        assert started, "no measuring process within the startup time"
        descendants = _measuring_process_started(main) or []
        assert rank.poll() is None and descendants, "the run ended before its worker was seen"
        rank.send_signal(sig)
        assert rank.wait(GONE_S) != 0
        assert _wait_for(lambda: not _alive(descendants), GONE_S), _alive(descendants)
    finally:
        for process in [main, *_alive(descendants)]:
            if process.is_running():
                process.kill()
        rank.wait()


def test_watchdog_ends_a_helper_once_the_main_process_is_gone():
    """The fallback used where prctl is not available (not Linux): polling the main process."""
    main = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    watch = (
        "import sys, threading, time; from modelscout.measure.lifetime import _watch; "
        "threading.Thread(target=_watch, args=(int(sys.argv[1]),), daemon=True).start(); "
        "time.sleep(60)"
    )
    helper = subprocess.Popen([sys.executable, "-c", watch, str(main.pid)])
    try:
        time.sleep(1)
        assert helper.poll() is None, "the helper ended while the main process was running"
        main.kill()
        main.wait()
        assert helper.wait(GONE_S) == 1
    finally:
        for process in (main, helper):
            if process.poll() is None:
                process.kill()
            process.wait()

"""Helper processes (the fork server, each candidate's measuring process) die with the main one.

Left alone they would not: a measuring process holds the fork server's "alive" pipe open, so
the server outlives a killed main process, and the measuring process goes on with its pass
(a gigabyte or more) for minutes. On Linux the kernel kills each helper when its parent exits
(``prctl(PR_SET_PDEATHSIG, SIGKILL)``): the fork server is the main process's child and each
measuring process the fork server's, so the death of the main process runs down the chain.
Where ``prctl`` is not available a daemon thread polls the main process instead. One libc call
through ctypes rather than a package (python-prctl needs libcap headers to build).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

import psutil

MAIN_PID_VARIABLE = "MODELSCOUT_MAIN_PID"  # tells the fork server which process it serves
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
POLL_S = 0.5  # how often the fallback watchdog looks for the main process


def die_with(main_pid: int) -> None:
    """End this helper process as soon as the main process ``main_pid`` ends.

    Call it first thing in the helper. On Linux the signal fires when the *thread* that
    forked this process exits; the fork server is started from the main thread (``cli``,
    ``run.run``) and forks its children from its own main thread.
    """
    if not _kill_on_parent_exit():
        threading.Thread(target=_watch, args=(main_pid,), daemon=True).start()
    if not psutil.pid_exists(main_pid):  # it ended before the signal was asked for
        os._exit(1)


def _kill_on_parent_exit() -> bool:
    """Ask the kernel to SIGKILL this process when its parent exits; False where it cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        # CDLL(None): the symbols already loaded, libc's among them; find_library("c") would
        # run ldconfig in a subprocess
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    return prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0


def _watch(main_pid: int) -> None:
    """Exit as soon as ``main_pid`` is gone (``is_running`` also counts its pid taken by a new
    process as gone); ``os._exit`` from this thread, since the main thread may be deep in a
    model's native code."""
    try:
        main = psutil.Process(main_pid)
        while main.is_running():
            time.sleep(POLL_S)
    finally:
        os._exit(1)

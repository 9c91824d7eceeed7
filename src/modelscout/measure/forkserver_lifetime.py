"""Imported by the fork server only, as its first preload module
(``executors.forkserver._PRELOAD``): the import itself ties the server's life to the main
process, its parent, before the server spends seconds importing torch. A module rather than
a function because a preload entry is a module name, and importing it is the only code the
server runs before its loop."""

from __future__ import annotations

import os

from modelscout.measure.lifetime import MAIN_PID_VARIABLE, die_with

# From the environment, not os.getppid(): a main process killed while this one was starting
# has already left it to another parent, which would pass for the main process.
die_with(int(os.environ.get(MAIN_PID_VARIABLE, os.getppid())))

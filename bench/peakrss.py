"""Wall time and peak memory of a whole command, measured so that the benchmark's own size does not count.

A process started straight from a benchmark inherits the benchmark's memory
until it execs, and Linux records that memory's high-water mark as the
process's peak (``ru_maxrss`` after ``exec``): a 120 MB build started from a
300 MB benchmark reports 300 MB. So a small launcher (a fresh Python with
nothing imported) starts the command in a process of its own and reports that
process's peak: the largest of it and of every descendant it waited for (the
render process, sandboxed children, LibreOffice's helpers). The wall time is
taken inside the launcher, around the command alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_LAUNCHER = r"""
import json, os, sys, time
report, command = int(sys.argv[1]), sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.close(report)
    try:
        os.execvp(command[0], command)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
os.write(report, json.dumps({"wall": wall, "kb": usage.ru_maxrss, "code": os.waitstatus_to_exitcode(status)}).encode())
"""


def run_measured(args: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float, int, str]:
    """Run ``args`` to the end: (wall seconds, peak resident MB of its largest process, exit code, stderr)."""
    read_fd, write_fd = os.pipe()
    try:
        process = subprocess.Popen([sys.executable, "-S", "-c", _LAUNCHER, str(write_fd), *args], cwd=cwd, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=(write_fd,))
    finally:
        os.close(write_fd)
    _, error = process.communicate()
    with open(read_fd, "rb") as report:
        told = report.read()
    if process.returncode != 0 or not told:
        return 0.0, 0.0, process.returncode or 1, error.decode("utf-8", "replace")
    result = json.loads(told)
    return result["wall"], result["kb"] / 1024, result["code"], error.decode("utf-8", "replace")

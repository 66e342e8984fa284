"""A kernel started by a stage stops within a fraction of a second when the stage process is killed with
kill -9 (issue 11: the orphan used to live on for up to 2 s, still writing rows)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import sys, time
from analysis.core.lifeline import die_with_parent
if sys.argv[2] == "1":
    die_with_parent()
with open(sys.argv[1], "a") as f:
    while True:
        f.write(f"{time.monotonic()}\\n"); f.flush(); time.sleep(0.01)
"""

PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2], sys.argv[3]])
print(child.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie counts as dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
@pytest.mark.parametrize("watch", [True, False])
def test_kernel_stops_with_its_parent(tmp_path, watch):
    out = tmp_path / "rows.txt"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, CHILD, str(out), "1" if watch else "0"],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    child = int(parent.stdout.readline())
    deadline = time.monotonic() + 60
    while (not out.exists() or out.stat().st_size == 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    killed_at = time.monotonic()
    time.sleep(1.0)
    try:
        if watch:
            assert not _alive(child)
            last = float(out.read_text().split()[-1])
            assert last - killed_at < 0.3  # no row written later than a few polls after the kill
        else:
            assert _alive(child)  # without the watchdog the orphan goes on (what the runner must prevent)
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)

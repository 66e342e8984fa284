"""Stop with the parent: a helper for processes a stage starts (the notebook kernel).

When the stage process (``python -m analysis.pipeline.run_notebook``) is killed with ``kill -9``, its
notebook kernel is orphaned and, left alone, goes on calling the model and writing answers for a while
(ipykernel only notices a dead parent about once a second). A resumed run started in that window races
the orphan for the same calls. :func:`die_with_parent`, called first thing in the kernel, ends the
kernel within ``poll_s`` of its parent's death, so a resumed run never overlaps the interrupted one.
(Rows the orphan wrote before it stopped are complete, successful answers: the store stays exact.)
"""

from __future__ import annotations

import os
import signal
import threading
import time

_started = False


def die_with_parent(poll_s: float = 0.05) -> None:
    """Kill this process (SIGKILL: no clean-up that could write) as soon as its parent process is gone.

    A daemon thread compares ``os.getppid()`` with the parent at the time of the call; an orphan is
    re-parented (to init or a subreaper), so the pid changes. Polling is used rather than Linux's
    ``PR_SET_PDEATHSIG``, which fires when the *thread* that started the process exits, not the process."""
    global _started
    if _started:
        return
    _started = True
    parent = os.getppid()

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(poll_s)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()

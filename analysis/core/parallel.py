"""Independent, pure computations on every core: the results of a plain loop, in its order.

A DVC stage runs one notebook at a time, and an analysis notebook is single-threaded Python, so on a 2-core machine
one core idles while, say, thirty mixed models are fitted one after another. :func:`map_fork` runs such a loop in
forked worker processes. The workers are copies of this process (same libraries, same data), each item is computed
by the same code as in the loop, and the results come back in the items' order, so the numbers are those of the
loop (checked bit for bit in the tests and on the study tables; a worker's BLAS runs one thread, which for the
small matrices of these fits is the loop's arithmetic). Warnings a worker raises are re-issued here in item order (a forked worker must not write to a
notebook kernel's output itself). Where fork is unavailable, with one core, with few items, or with
``PSY_PARALLEL=0`` in the environment, it is the loop.

Only for numpy / pandas / scipy / statsmodels work: a forked worker that touches polars or pyarrow waits forever for
the parent's thread pools, which a fork does not copy (seen with ``DataFrame.to_pandas`` in a worker). Arguments
that are polars frames are therefore refused, and a function given here must not convert or read with polars.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import warnings
from collections.abc import Callable, Iterable
from typing import Any


def cores() -> int:
    """The cores this process may use (its CPU affinity), or 1 when ``PSY_PARALLEL=0``."""
    if os.environ.get("PSY_PARALLEL", "1") == "0":
        return 1
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _one_blas_thread() -> None:
    """A worker's BLAS uses one thread: with one worker per core, BLAS threads of their own would oversubscribe the
    cores (measured: 30 mixed-model fits on 2 cores took 2.6 s so, 1.6 s with one thread each, 3.1 s in a loop)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _run(fn: Callable, item: Any) -> tuple[Any, list[tuple]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*item)
    return out, [(str(w.message), w.category, w.filename, w.lineno) for w in caught]


def map_fork(fn: Callable, items: Iterable[tuple], *, min_items: int = 4) -> list:
    """``[fn(*item) for item in items]``, computed by forked workers (one per core) when that can help.
    ``fn`` must be a module-level function (it is sent to the workers by name)."""
    items = list(items)
    if any(type(a).__module__.startswith(("polars", "pyarrow")) for item in items for a in item):
        raise TypeError("map_fork runs in forked workers, where polars and pyarrow hang (their thread pools are not "
                        "forked): pass pandas or numpy data instead.")
    workers = min(cores(), len(items))
    if workers < 2 or len(items) < min_items or "fork" not in mp.get_all_start_methods():
        return [fn(*item) for item in items]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"), initializer=_one_blas_thread) as pool:
        done = list(pool.map(_run, [fn] * len(items), items))
    for _, caught in done:
        for message, category, filename, lineno in caught:
            warnings.warn_explicit(message, category, filename, lineno)
    return [out for out, _ in done]

"""The Dask cluster that many-fit studies run on: the user's ``Client``, or a local one.

Calibration sweeps (:func:`emergestats.mirage.calibrate`), recovery studies
(:func:`emergestats.recovery.recovery_study`), the extrapolation benchmark and the evaluation
planner (:func:`emergestats.plan`) submit one task per batch of fits through
:func:`run_on_cluster`. They take a ``distributed.Client`` (any cluster: a user's runs the same
code unchanged) or, when given none, start a ``LocalCluster`` of single-threaded worker
processes for the duration of the run.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["ClusterRun", "Progress", "Task", "dask_client", "run_on_cluster", "scheduler_label"]

#: ``True``: one line per finished task on stderr; ``False``: silent; or a callable
#: ``progress(done, total, elapsed_seconds)``.
type Progress = bool | Callable[[int, int, float], None]

#: One unit of work: ``(function, args, kwargs)``; the function must be importable by workers.
type Task = tuple[Callable[..., Any], Sequence[Any], Mapping[str, Any]]


@contextmanager
def dask_client(client: Client | None = None, *, n_workers: int | None = None) -> Iterator[Client]:
    """Yield ``client``, or a ``LocalCluster`` client closed on exit when ``client`` is None.

    The local cluster has ``n_workers`` single-threaded processes (default: the CPU count, at
    most 4: each worker compiles and samples a model) and its dashboard on any free port, so
    clusters may run side by side.
    """
    if client is not None:
        yield client
        return
    from distributed import Client, LocalCluster

    workers = n_workers or max(1, min(os.cpu_count() or 1, 4))
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    local = Client(cluster)
    try:
        yield local
    finally:
        local.close()
        cluster.close()


def scheduler_label(client: Client, *, own: bool) -> str:
    """``"LocalCluster"`` for a cluster started here, else the scheduler's address."""
    if own:
        return "LocalCluster"
    return str(client.scheduler.address) if client.scheduler is not None else ""


@dataclass(frozen=True)
class ClusterRun:
    """What :func:`run_on_cluster` gathered.

    Attributes
    ----------
    results
        The tasks' return values in the order the tasks were given (``None`` for a task
        cancelled at the time limit).
    wall_seconds
        From the first submission to the last result (the cluster's start excluded).
    scheduler
        ``"LocalCluster"`` or the user's scheduler address.
    n_done
        Tasks that finished.
    """

    results: list[Any]
    wall_seconds: float
    scheduler: str
    n_done: int

    def finished(self) -> list[Any]:
        """The results of the tasks that finished, in task order."""
        return [r for r in self.results if r is not None]


def run_on_cluster(
    tasks: Sequence[Task],
    *,
    client: Client | None = None,
    n_workers: int | None = None,
    progress: Progress = True,
    label: str = "tasks",
    describe: Callable[[Any], str] | None = None,
    time_limit: float | None = None,
) -> ClusterRun:
    """Submit every task to ``client`` (or a ``LocalCluster``) and gather the results.

    Parameters
    ----------
    tasks
        ``(function, args, kwargs)`` per task; submitted with ``pure=False`` (every task runs,
        even two with equal arguments).
    client, n_workers
        See :func:`dask_client`.
    progress
        One line per finished task on stderr (``True``): ``"<label>: done/total <describe(result)>,
        <s> s"``; nothing (``False``); or ``progress(done, total, seconds)``.
    label, describe
        The printed line's prefix and a description of a finished task's result.
    time_limit
        Stop waiting after this many seconds: unfinished tasks are cancelled and their results
        are ``None`` (``n_done`` says how many finished). A task that raises re-raises here.
    """
    from distributed import as_completed

    own = client is None
    with dask_client(client, n_workers=n_workers) as running:
        started = time.perf_counter()
        futures = [
            running.submit(function, *args, pure=False, **kwargs)
            for function, args, kwargs in tasks
        ]
        position = {future.key: index for index, future in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        done = 0
        try:
            for future in as_completed(futures, timeout=time_limit):
                result = future.result()
                results[position[future.key]] = result
                done += 1
                elapsed = time.perf_counter() - started
                if callable(progress):
                    progress(done, len(futures), elapsed)
                elif progress:
                    what = f" {describe(result)}" if describe is not None else ""
                    print(
                        f"{label}: {done}/{len(futures)}{what}, {elapsed:.0f} s",
                        file=sys.stderr,
                        flush=True,
                    )
        except TimeoutError:
            running.cancel(futures)
        scheduler = scheduler_label(running, own=own)
    return ClusterRun(
        results=results,
        wall_seconds=time.perf_counter() - started,
        scheduler=scheduler,
        n_done=done,
    )

"""The Dask cluster that many-fit studies run on: the user's ``Client``, or a local one.

Calibration sweeps (:func:`emergestats.mirage.calibrate`) and recovery studies
(:func:`emergestats.recovery.recovery_study`) submit one task per batch of fits. They take a
``distributed.Client`` (any cluster: a user's runs the same code unchanged) or, when given
none, start a ``LocalCluster`` of single-threaded worker processes for the duration of the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["dask_client", "scheduler_label"]


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

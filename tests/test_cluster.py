"""``run_on_cluster``: results in task order, progress, a raising task, the time limit."""

from __future__ import annotations

import time

import pytest

from emergestats.cluster import run_on_cluster


def _square_after(value: int, delay: float) -> int:
    time.sleep(delay)
    return value * value


def _fail(value: int) -> int:
    raise ValueError(f"task {value} failed")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        dashboard_address=":0",
        local_directory=str(tmp_path_factory.mktemp("dask")),
    )
    with distributed.Client(cluster) as running:
        yield running
    cluster.close()


def test_results_come_back_in_task_order_with_progress(client) -> None:
    calls: list[tuple[int, int]] = []
    # the first task finishes last: the results must still be in task order
    tasks = [(_square_after, (v, 0.3 if v == 0 else 0.0), {}) for v in range(4)]
    run = run_on_cluster(
        tasks, client=client, progress=lambda done, total, s: calls.append((done, total))
    )
    assert run.results == [0, 1, 4, 9]
    assert run.n_done == 4
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert run.scheduler == str(client.scheduler.address)
    assert run.wall_seconds >= 0.3


def test_printed_progress_names_the_label_and_the_result(client, capsys) -> None:
    run_on_cluster(
        [(_square_after, (3, 0.0), {})],
        client=client,
        label="squares",
        describe=lambda result: f"gave {result}",
    )
    assert "squares: 1/1 gave 9," in capsys.readouterr().err


def test_a_raising_task_raises_its_error(client) -> None:
    with pytest.raises(ValueError, match="task 2 failed"):
        run_on_cluster([(_fail, (2,), {})], client=client, progress=False)


def test_the_time_limit_cancels_unfinished_tasks(client) -> None:
    tasks = [(_square_after, (2, 0.0), {}), (_square_after, (5, 5.0), {})]
    run = run_on_cluster(tasks, client=client, progress=False, time_limit=2.0)
    assert run.results == [4, None]
    assert run.n_done == 1
    assert run.finished() == [4]

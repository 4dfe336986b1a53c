"""Running trials on a Dask distributed cluster: an existing scheduler or a local one.

Trial exceptions never reach Dask (:func:`call_trial` turns them into records),
so a future that errs means the infrastructure failed, typically a worker that
died while running the trial. Such trials are resubmitted up to ``retries``
times. On a local cluster the scheduler's own retry of tasks whose worker died
(``distributed.scheduler.allowed-failures``) is switched off so that the count
is exactly ``retries``; an external scheduler applies its own setting first.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any

from repdyn.sweep._trial import STATUS_FAILED, THREAD_ENV_VARS, call_trial, error_record

Task = tuple[int, Any]
Outcome = tuple[int, dict[str, Any], float | None]


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            "executor='dask' needs dask.distributed, which is not installed; install it with "
            "`pip install 'repdyn[dask]'` or choose executor='process'"
        ) from exc
    return distributed


def run_dask(
    fn: Callable[[Any], Any],
    tasks: Sequence[Task],
    *,
    workers: int,
    retries: int,
    scheduler: Any = None,
) -> Iterator[Outcome]:
    """Run ``fn`` on every task's config on a Dask cluster; yield outcomes as they finish.

    Parameters
    ----------
    scheduler
        None to start a ``LocalCluster`` of ``workers`` worker processes with
        one thread each; an address such as ``"tcp://host:8786"`` to attach to a
        running scheduler; the path of a scheduler file (``*.json``, written by
        ``dask scheduler --scheduler-file``); a :class:`JobQueue` to submit
        workers as batch jobs (closed afterwards); or a ``distributed.Client``
        to use as it is (it is not closed afterwards).
    """
    import dask

    from repdyn.sweep._cluster import JobQueue

    distributed = _import_distributed()
    with ExitStack() as stack:
        if isinstance(scheduler, JobQueue):
            cluster = stack.enter_context(scheduler.cluster())
            cluster.scale(jobs=scheduler.jobs)
            client = stack.enter_context(distributed.Client(cluster))
        elif isinstance(scheduler, str) and scheduler.endswith(".json"):
            try:
                client = stack.enter_context(
                    distributed.Client(scheduler_file=scheduler, timeout="20s")
                )
            except (OSError, TimeoutError, ValueError) as exc:
                raise ValueError(
                    f"could not connect to the Dask scheduler of the file scheduler={scheduler!r} "
                    f"({exc}); pass the file a running `dask scheduler --scheduler-file` wrote"
                ) from exc
        elif scheduler is None:
            with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                cluster = stack.enter_context(
                    distributed.LocalCluster(
                        n_workers=workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        silence_logs=logging.ERROR,
                        env=dict.fromkeys(THREAD_ENV_VARS, "1"),
                    )
                )
            client = stack.enter_context(distributed.Client(cluster))
        elif isinstance(scheduler, distributed.Client):
            client = scheduler
        else:
            try:
                client = stack.enter_context(distributed.Client(scheduler, timeout="20s"))
            except (OSError, TimeoutError, ValueError) as exc:
                raise ValueError(
                    f"could not connect to the Dask scheduler at scheduler={scheduler!r} ({exc}); "
                    "pass the address a running `dask scheduler` prints (tcp://host:port), or no "
                    "scheduler to start a local cluster"
                ) from exc
        yield from _drive(client, distributed, fn, tasks, retries)


def _drive(
    client: Any, distributed: Any, fn: Callable[[Any], Any], tasks: Sequence[Task], retries: int
) -> Iterator[Outcome]:
    run_id = uuid.uuid4().hex[:8]
    attempts: Counter[int] = Counter()
    owner: dict[Any, Task] = {}

    def submit(task: Task) -> Any:
        index, config = task
        key = f"repdyn-trial-{run_id}-{index}-{attempts[index]}"
        future = client.submit(call_trial, fn, config, key=key, pure=False)
        owner[future] = task
        return future

    completed = distributed.as_completed([submit(task) for task in tasks])
    try:
        for future in completed:
            index, config = owner.pop(future)
            if future.status == "finished":
                result, seconds = future.result()
                future.release()
                yield index, result, seconds
                continue
            try:
                exc = future.exception()
                problem = f"{type(exc).__name__}: {exc}"
            except Exception as err:  # noqa: BLE001 - a cancelled future raises here
                problem = f"{type(err).__name__}: {err}"
            future.release()
            attempts[index] += 1
            if attempts[index] > retries:
                message = (
                    f"the Dask task running this trial failed on each of {attempts[index]} "
                    f"attempts (last: {problem}); a worker that dies (out of memory, a crash, "
                    "os._exit) shows as KilledWorker"
                )
                yield index, error_record(message, STATUS_FAILED), None
            else:
                completed.add(submit((index, config)))
    finally:
        if owner:
            client.cancel(list(owner))

"""Running trials on a Dask distributed cluster: an existing scheduler or a local one.

Trial exceptions never reach Dask (:func:`call_trial` turns them into records),
so a future that errs means the infrastructure failed, typically a worker that
died while running the trial. Such trials are resubmitted up to ``retries``
times. On a local cluster the scheduler's own retry of tasks whose worker died
(``distributed.scheduler.allowed-failures``) is switched off so that the count
is exactly ``retries``; an external scheduler applies its own setting first.

Before the first trial is submitted, the scheduler and every worker import the
trial's module and the config classes' modules: a cluster whose environment
lacks them would otherwise fail every task, on the scheduler as an error
deserialising the task graph or on the workers as one lost worker after
another (``KilledWorker``), which reads like a crash of the trials.
"""

from __future__ import annotations

import importlib
import logging
import socket
import uuid
from urllib.parse import urlsplit
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any

from repdyn.sweep._trial import STATUS_FAILED, THREAD_ENV_VARS, call_trial, error_record, single_thread_env

Task = tuple[int, Any]
Outcome = tuple[int, dict[str, Any], float | None]

#: Dask's default scheduler port, used for an address without one.
_DEFAULT_PORT = 8786
#: Seconds to wait for a TCP connection to a scheduler before calling it unreachable.
_CONNECT_SECONDS = 5.0


class ClusterSetupError(RuntimeError):
    """The Dask cluster cannot run the trials at all (a module missing on its nodes).

    Raised before any trial is charged, with what to install where.
    """


def check_scheduler_address(address: str, *, name: str = "scheduler") -> None:
    """Raise ValueError unless something accepts TCP connections at the scheduler ``address``.

    ``name`` is the parameter's name in the messages (``--scheduler`` at the command line).
    """
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme not in ("tcp", "tls"):
        return  # inproc://, ucx://...: left to distributed
    try:
        host, port = parts.hostname, parts.port or _DEFAULT_PORT
    except ValueError as exc:
        raise ValueError(
            f"{name} {address!r} is not an address of the form tcp://host:port ({exc})"
        ) from None
    if not host:
        raise ValueError(f"{name} {address!r} names no host; give tcp://host:port")
    try:
        socket.create_connection((host, port), timeout=_CONNECT_SECONDS).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(
            f"no Dask scheduler answers at {name} {address!r} ({reason}); start one with "
            f"`dask scheduler` and pass the address it prints (tcp://host:port), or leave out "
            f"{name} to start a local cluster"
        ) from None


def import_failures(modules: Sequence[str]) -> dict[str, str]:
    """Import each module here; the ones that fail, with the error (run on cluster nodes)."""
    failures = {}
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none is fatal here
            failures[name] = f"{type(exc).__name__}: {exc}"
    return failures


def _modules_needed(fn: Callable[[Any], Any], tasks: Sequence[Task]) -> list[str]:
    """The trial's module and those of the config classes (the driver's ``__main__`` left out)."""
    modules = {getattr(fn, "__module__", None)}
    modules |= {type(config).__module__ for _, config in tasks if not isinstance(config, dict)}
    return sorted(m for m in modules if m and m != "__main__" and m != "builtins")


def _install_hint(modules: Sequence[str]) -> str:
    return (
        f"install the package that holds {', '.join(modules)} (and repdyn: "
        "`pip install 'repdyn[dask]'`) into the Python environment of the Dask scheduler and of "
        "every worker, or put it on their PYTHONPATH, then restart them (client.upload_file works "
        "for a single module on the workers); the scheduler unpickles every task, so it needs "
        "them too"
    )


def check_cluster_imports(client: Any, fn: Callable[[Any], Any], tasks: Sequence[Task]) -> None:
    """Raise :class:`ClusterSetupError` unless the scheduler and every worker import what the trials need."""
    modules = _modules_needed(fn, tasks)
    problems = []
    try:
        on_scheduler = client.run_on_scheduler(import_failures, modules)
    except Exception as exc:  # noqa: BLE001 - an unpickling failure there means repdyn is missing
        on_scheduler = {"repdyn": f"{type(exc).__name__}: {exc}"}
    if on_scheduler:
        problems.append(f"the scheduler: {_listing(on_scheduler)}")
    try:
        per_worker = client.run(import_failures, modules)
    except Exception as exc:  # noqa: BLE001 - as above, on the workers
        per_worker = {"the workers": {"repdyn": f"{type(exc).__name__}: {exc}"}}
    for worker, failures in sorted(per_worker.items()):
        if failures:
            problems.append(f"worker {worker}: {_listing(failures)}")
    if problems:
        raise ClusterSetupError(
            "the Dask cluster cannot import what the trials need, so every trial would fail "
            f"there ({'; '.join(problems)}); {_install_hint(modules or ['the trial'])}"
        )


def _listing(failures: dict[str, str]) -> str:
    return ", ".join(f"{name} ({error})" for name, error in failures.items())


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
    host: str = "127.0.0.1",
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
    host
        The address a local cluster (``scheduler=None``) listens on, scheduler
        and workers alike; loopback by default.
    """
    import dask

    from repdyn.sweep._cluster import JobQueue

    distributed = _import_distributed()
    with ExitStack() as stack:
        if isinstance(scheduler, JobQueue):
            cluster = stack.enter_context(scheduler.cluster())
            if scheduler.kind == "local":
                # Local jobs inherit this process's environment, not the batch
                # script's exports: start them single-threaded here (BLAS threads
                # are fixed at import, before the first trial could limit them).
                with single_thread_env():
                    cluster.scale(jobs=scheduler.jobs)
                    client = stack.enter_context(distributed.Client(cluster))
                    client.wait_for_workers(scheduler.jobs * scheduler.cores)
            else:
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
                        host=host,
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
        pending: Any = tasks if hasattr(tasks, "popleft") else deque(tasks)
        if pending:
            first = pending.popleft()  # the config classes' modules, from a task put back at once
            pending.appendleft(first)
            check_cluster_imports(client, fn, [first])
        yield from _drive(client, distributed, fn, pending, retries)


def _drive(
    client: Any, distributed: Any, fn: Callable[[Any], Any], tasks: Any, retries: int
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

    # Tasks go out one per worker thread (and as many again queued), topped up as
    # they finish: a task is claimed in the store only when it is about to run.
    # The window follows the cluster as workers join or leave.
    completed = distributed.as_completed()

    def top_up() -> None:
        workers = client.scheduler_info().get("workers", {}).values()
        window = 2 * max(1, sum(w.get("nthreads", 1) for w in workers))
        while len(owner) < window and tasks:
            completed.add(submit(tasks.popleft()))

    top_up()
    try:
        for future in completed:
            index, config = owner.pop(future)
            top_up()
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
            if "deserializ" in problem:
                # The scheduler could not unpickle the task: every attempt of every
                # trial would fail the same way (a module missing there).
                raise ClusterSetupError(
                    f"the Dask scheduler could not load the trial {fn.__module__}.{fn.__qualname__} "
                    f"({problem.strip()}); {_install_hint(_modules_needed(fn, [(index, config)]))}"
                )
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

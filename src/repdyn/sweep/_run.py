"""``run_sweep``: run a trial function over many configs, caching every result as it arrives."""

from __future__ import annotations

import os
import pickle
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from repdyn import checks
from repdyn.sweep._canonical import cache_key, canonical_json, trial_name
from repdyn.sweep._cluster import check_host
from repdyn.sweep._queue import TaskQueue
from repdyn.sweep._store import ResultStore, SweepWarning
from repdyn.sweep._trial import (
    STATUS_ERROR,
    STATUS_FAILED,
    TrialError,
    call_trial,
    is_problem,
    single_threaded,
)

#: Names accepted by ``run_sweep(executor=...)``.
EXECUTORS = ("local", "process", "dask")

Outcome = tuple[int, dict[str, Any], float | None]


def default_workers() -> int:
    """Number of CPU cores this process may use (one worker per core)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _run_local(fn: Callable[[Any], Any], tasks: Iterable[tuple[int, Any]]) -> Iterator[Outcome]:
    with single_threaded():
        for index, config in tasks:
            result, seconds = call_trial(fn, config)
            yield index, result, seconds


def _outcomes(fn: Callable[[Any], Any], queue: TaskQueue, executor: str, n_workers: int, retries: int,
              scheduler: Any, host: str) -> Iterator[Outcome]:
    """Start ``executor`` on the tasks of ``queue``: outcomes as they finish (empty without tasks)."""
    if not queue:
        return (outcome for outcome in ())
    if executor == "local":
        return _run_local(fn, queue)
    if executor == "process":
        from repdyn.sweep._pool import run_process_pool

        return run_process_pool(fn, queue, workers=n_workers, retries=retries)
    from repdyn.sweep._dask import run_dask

    return run_dask(fn, queue, workers=n_workers, retries=retries, scheduler=scheduler, host=host)


def _check_picklable(fn: Callable[[Any], Any], configs: list[Any], executor: str) -> None:
    try:
        pickle.dumps(fn)
    except Exception as exc:
        raise TypeError(
            f"executor={executor!r} sends the trial function to worker processes, but "
            f"{trial_name(fn)} cannot be pickled ({exc}); define it at the top level of an "
            "importable module, or use executor='local'"
        ) from exc
    for i, config in enumerate(configs):
        try:
            pickle.dumps(config)
        except Exception as exc:
            raise TypeError(
                f"configs[{i}] cannot be pickled for executor={executor!r} ({exc}); define config "
                "classes at the top level of an importable module, or use executor='local'"
            ) from exc


def check_executor(executor: str, workers: int | None = None, scheduler: Any = None, *,
                   connect: bool = False, names: dict[str, str] | None = None) -> None:
    """Raise ValueError unless ``executor``, ``workers`` and ``scheduler`` fit together.

    The checks :func:`run_sweep` makes before it runs anything, for callers
    (the command line) that want them before they prepare a sweep. With
    ``connect=True`` a scheduler address is also tried: a scheduler that
    nothing listens at is reported at once instead of after the client's
    timeout. ``names`` spells the three parameters in the caller's words
    (``{"executor": "--executor"}``) in the messages.
    """
    n = {"executor": "executor", "workers": "workers", "scheduler": "scheduler", **(names or {})}
    checks.choice(n["executor"], executor, EXECUTORS)
    checks.integer(n["workers"], workers, minimum=1, allow_none=True, fix="Leave it out for one worker per core")
    if scheduler is not None and executor != "dask":
        raise ValueError(
            f"{n['scheduler']} {scheduler!r} only applies to {n['executor']} 'dask'; got "
            f"{n['executor']} {executor!r}"
        )
    if scheduler is not None and workers is not None:
        raise ValueError(
            f"{n['workers']} sizes a local Dask cluster; an existing scheduler has its own workers, "
            f"so give either {n['scheduler']} or {n['workers']}, not both"
        )
    if connect and isinstance(scheduler, str):
        from repdyn.sweep._dask import check_scheduler_address

        check_scheduler_address(scheduler, name=n["scheduler"])


def _validate(
    executor: str,
    workers: int | None,
    scheduler: Any,
    progress: bool | None,
    retries: int,
    errors: str,
) -> None:
    check_executor(executor, workers, scheduler)
    if progress is not None:
        checks.flag("progress", progress)
    checks.integer("retries", retries, minimum=0)
    if errors not in ("record", "raise"):
        raise ValueError(f"errors must be 'record' or 'raise'; got {errors!r}")


def run_sweep(
    fn: Callable[[Any], Any],
    configs: Iterable[Any],
    *,
    store: ResultStore | str | os.PathLike[str] | None = None,
    executor: str = "process",
    workers: int | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
    retries: int = 2,
    errors: str = "record",
    recompute_failed: bool = True,
    claim_timeout: float = 3600.0,
    host: str = "127.0.0.1",
) -> list[dict[str, Any]]:
    """Run the trial ``fn`` on every config, reusing cached results; return results in config order.

    Parameters
    ----------
    fn : callable
        A pure function ``fn(config) -> result`` defined at the top level of an
        importable module. A result is a flat dict of JSON scalars and numpy
        arrays. It must depend on the config alone (seeds go in the config).
    configs : iterable
        Frozen dataclasses or dicts with a canonical JSON form (see
        :func:`repdyn.sweep.canonical_json`). Equal configs run once.
    store : ResultStore or path, optional
        Where results are cached. Only configs without an entry are computed,
        and each result is written the moment it arrives, so a sweep that is
        killed resumes where it stopped. Each key is claimed in the store just
        before it is computed (:meth:`ResultStore.claim`), so several sweeps on
        one store split the work; keys another live sweep holds are waited for
        and read from the store. None computes everything, caching nothing.
    executor : {"process", "local", "dask"}
        ``"process"``: a pool of worker processes on this machine, one trial per
        worker at a time, one thread each. ``"local"``: sequentially in this
        process (torch limited to one thread meanwhile, as in the workers).
        ``"dask"``: a Dask distributed cluster (see ``scheduler``).
    workers : int, optional
        Worker processes for ``"process"`` and for a local Dask cluster;
        default one per CPU core.
    scheduler : str, JobQueue or distributed.Client, optional
        With ``executor="dask"``: the address of a running scheduler
        (``"tcp://host:8786"``), the path of its scheduler file (``*.json``), a
        :class:`JobQueue` (workers submitted as SLURM/PBS/... jobs), or a
        client; None starts a local cluster.
    progress : bool, optional
        Show a tqdm progress bar on stderr; None shows it only when stderr is a terminal.
    retries : int, default 2
        How often a trial whose worker process died is run again before it is
        recorded with ``status="failed"``.
    errors : {"record", "raise"}
        What happens when a trial raises (or fails for good): ``"record"`` stores
        ``{"status": "error", "error": <traceback>}`` and goes on; ``"raise"``
        stores the record and raises :class:`TrialError`.
    recompute_failed : bool, default True
        Run trials again whose cached record has status ``"error"`` or ``"failed"``.
    claim_timeout : float, default 3600
        Seconds to wait for trials that another live process has claimed in
        the store (another sweep computing them) before computing them here as
        well. What is waited for is printed on stderr at once and every minute.
        A claim whose process is gone, whose pid now belongs to a process
        started later, or whose file holds no claim, is taken over at once.
    host : str, default "127.0.0.1"
        With ``executor="dask"`` and no ``scheduler``: the address the local
        cluster's scheduler and workers listen on. Loopback by default, so
        that nothing outside this machine can reach them (a Dask scheduler
        runs any code it is sent); ``"0.0.0.0"`` listens on every interface.
        A :class:`JobQueue` has its own ``host``.

    Returns
    -------
    list of dict
        One result per config, in order: cached and newly computed alike.

    Notes
    -----
    Results do not depend on the executor: each trial sees only its config,
    and every executor gives torch one thread (set the BLAS/OpenMP thread
    variables to 1 in the shell as well if ``"local"`` must match numpy-heavy
    trials bit for bit). Trials that raise or whose worker dies are never
    dropped: they come back as records with ``status`` and ``error``, and a
    :class:`SweepWarning` counts them.
    """
    name = trial_name(fn)
    configs = list(configs)
    _validate(executor, workers, scheduler, progress, retries, errors)
    claim_timeout = checks.real("claim_timeout", claim_timeout, at_least=0)
    check_host(host)
    if store is not None and not isinstance(store, ResultStore):
        if not isinstance(store, (str, os.PathLike)):
            raise TypeError(f"store must be a ResultStore, a directory path or None; got {store!r}")
        store = ResultStore(Path(store))

    keys = []
    for i, config in enumerate(configs):
        try:
            keys.append(cache_key(fn, config))
        except TypeError as exc:
            raise TypeError(f"configs[{i}]: {exc}") from None
    first_index: dict[str, int] = {}
    for i, key in enumerate(keys):
        first_index.setdefault(key, i)

    results: dict[str, dict[str, Any]] = {}
    if store is not None:
        for key in first_index:
            cached = store.get(key)
            if cached is not None and not (recompute_failed and is_problem(cached)):
                results[key] = cached
    todo = [(i, configs[i]) for key, i in first_index.items() if key not in results]

    if todo and executor != "local":
        _check_picklable(fn, [config for _, config in todo], executor)
    n_workers = default_workers() if workers is None else workers
    queue = TaskQueue(todo, keys, store, recompute_failed)

    from tqdm.auto import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(
        total=len(first_index),
        initial=len(first_index) - len(todo),
        disable=not show or not todo,
        desc=fn.__name__,
        unit="trial",
        file=sys.stderr,
        dynamic_ncols=True,
    )
    try:
        with bar:
            while True:
                with closing(_outcomes(fn, queue, executor, n_workers, retries, scheduler, host)) as outcomes:
                    for index, result, seconds in outcomes:
                        key = keys[index]
                        if store is not None:
                            store.put(key, result, config=configs[index], trial=name, seconds=seconds)
                        queue.release(key)
                        results[key] = result
                        bar.update(1)
                        if errors == "raise" and is_problem(result):
                            raise TrialError(
                                f"trial configs[{index}] = {canonical_json(configs[index])} ended with "
                                f"status {result['status']!r}:\n{result['error']}"
                            )
                # Trials that other sweeps on the same store computed meanwhile.
                found = queue.take_found()
                results.update(found)
                bar.update(len(found))
                if not queue.deferred:
                    break
                queue.wait_for_others(claim_timeout)
                found = queue.take_found()
                results.update(found)
                bar.update(len(found))
                if not queue:
                    break
    finally:
        queue.release_all()

    out = [dict(results[key]) for key in keys]
    n_error = sum(1 for r in out if is_problem(r) and r["status"] == STATUS_ERROR)
    n_failed = sum(1 for r in out if is_problem(r) and r["status"] == STATUS_FAILED)
    if n_error or n_failed:
        warnings.warn(
            f"{n_error + n_failed} of {len(out)} trials of {name} did not finish: {n_error} raised "
            f"(status 'error'), {n_failed} lost their worker process on every attempt "
            "(status 'failed'); the text is in each record's 'error' field",
            SweepWarning,
            stacklevel=2,
        )
    return out

"""A process pool that knows which trial each worker runs, so a dead worker's trial is retried.

``concurrent.futures.ProcessPoolExecutor`` marks the whole pool broken when one
worker dies and cannot say which task killed it. Here every worker holds at
most one task, sent over its own pipe, so a death is charged to exactly that
task; the worker is replaced and the task retried up to ``retries`` times.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import pickle
import signal
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from repdyn.sweep._trial import STATUS_FAILED, call_trial, error_record, single_thread_env

Task = tuple[int, Any]
Outcome = tuple[int, dict[str, Any], float | None]

_READY = "ready"
#: Workers that die before they are ready, in a row, before the sweep gives up.
_MAX_START_FAILURES = 3


def _worker_main(conn: multiprocessing.connection.Connection) -> None:
    """Loop of a worker process: receive a pickled (fn, config), send back the result."""
    # Ctrl-C reaches the whole process group; the driver alone decides what stops,
    # and it terminates the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        conn.send(_READY)  # tells the driver that a death from now on is the trial's doing
    except (BrokenPipeError, OSError):
        return
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the driver went away
        if message is None:
            return
        index, payload = message
        try:
            fn, config = pickle.loads(payload)
        except Exception as exc:  # noqa: BLE001 - reported as the trial's error
            outcome: Outcome = (
                index,
                error_record(
                    f"the worker could not load the trial ({type(exc).__name__}: {exc}); the trial "
                    "function and config classes must be importable by worker processes"
                ),
                None,
            )
        else:
            result, seconds = call_trial(fn, config)
            outcome = (index, result, seconds)
        try:
            conn.send(outcome)
        except (BrokenPipeError, OSError):
            return


@dataclass
class _Worker:
    process: Any
    conn: multiprocessing.connection.Connection
    task: Task | None = None
    ready: bool = False


def _reap(worker: _Worker, *, timeout: float) -> None:
    """Wait for a worker to exit, terminating (then killing) it if it does not."""
    worker.process.join(timeout=timeout)
    if worker.process.is_alive():
        worker.process.terminate()
        worker.process.join(timeout=2)
    if worker.process.is_alive():
        worker.process.kill()
        worker.process.join()
    if not worker.conn.closed:
        worker.conn.close()


def _death_message(exitcode: int | None, attempts: int) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            how = f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"was killed by signal {-exitcode}"
    else:
        how = f"exited with code {exitcode}"
    return (
        f"the worker process running this trial {how}, on each of {attempts} attempts "
        "(out of memory, a crash in native code, or os._exit in the trial)"
    )


def run_process_pool(
    fn: Callable[[Any], Any],
    tasks: Sequence[Task],
    *,
    workers: int,
    retries: int,
    start_method: str = "spawn",
) -> Iterator[Outcome]:
    """Run ``fn`` on every task's config in worker processes; yield outcomes as they finish.

    Workers start with the BLAS/OpenMP thread variables set to 1 and give torch
    one thread. ``spawn`` starts clean interpreters, so the driver's threads
    and imported libraries cannot leak into (or deadlock) the workers.
    """
    ctx = multiprocessing.get_context(start_method)
    # A TaskQueue claims each task as it is handed out; a plain sequence is copied.
    pending: Any = tasks if hasattr(tasks, "popleft") else deque(tasks)
    attempts: Counter[int] = Counter()
    pool: list[_Worker] = []
    finished = False
    start_failures = 0

    def start_worker() -> _Worker:
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        process = ctx.Process(
            # Not a daemon, so that a trial may start processes of its own (a DataLoader).
            target=_worker_main,
            args=(child_conn,),
            daemon=False,
            name="repdyn-trial",
        )
        with single_thread_env():
            process.start()
        # Our copy of the child's end must close, or its death would not read as EOF.
        child_conn.close()
        return _Worker(process, parent_conn)

    def assign(worker: _Worker) -> bool:
        while pending:
            index, config = pending.popleft()
            try:
                worker.conn.send((index, pickle.dumps((fn, config))))
            except (BrokenPipeError, OSError):
                pending.appendleft((index, config))  # never started: no attempt used
                return False
            worker.task = (index, config)
            return True
        return False

    def retire(worker: _Worker) -> None:
        try:
            worker.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        worker.conn.close()

    try:
        for _ in range(min(workers, len(pending))):
            pool.append(start_worker())
        idle = list(pool)
        while True:
            for worker in idle:
                if not assign(worker):
                    if pending:  # the pipe broke before the task was sent: replace it
                        pool.remove(worker)
                        _reap(worker, timeout=5)
                        replacement = start_worker()
                        pool.append(replacement)
                        idle.append(replacement)
                        continue
                    retire(worker)
            idle = []
            busy = [w for w in pool if w.task is not None]
            if not busy:
                break
            ready = multiprocessing.connection.wait(
                [w.conn for w in busy] + [w.process.sentinel for w in busy]
            )
            for worker in busy:
                if worker.conn not in ready and worker.process.sentinel not in ready:
                    continue
                assert worker.task is not None
                index, config = worker.task
                message = None
                try:
                    if worker.conn.poll():
                        message = worker.conn.recv()
                except (EOFError, OSError):
                    message = None
                if message == _READY:
                    worker.ready = True
                    start_failures = 0
                    continue
                if message is not None:
                    worker.task = None
                    idle.append(worker)
                    yield message
                    continue
                # The worker died mid-trial: charge the trial and start a fresh worker.
                _reap(worker, timeout=5)
                pool.remove(worker)
                if not worker.ready:
                    # It never got as far as the trial: not the trial's fault.
                    start_failures += 1
                    if start_failures >= _MAX_START_FAILURES:
                        raise RuntimeError(
                            f"{start_failures} worker processes in a row died while starting "
                            f"(exit code {worker.process.exitcode}; their error is printed "
                            "above). Workers are started with 'spawn', which re-imports the "
                            "main script: run the sweep from a script file or a module (not "
                            'from stdin), guard it with `if __name__ == "__main__":`, or use '
                            "executor='local'"
                        )
                    pending.appendleft((index, config))
                else:
                    attempts[index] += 1
                    if attempts[index] > retries:
                        message = _death_message(worker.process.exitcode, attempts[index])
                        yield index, error_record(message, STATUS_FAILED), None
                    else:
                        pending.appendleft((index, config))
                if pending:
                    replacement = start_worker()
                    pool.append(replacement)
                    idle.append(replacement)
        finished = True
    finally:
        for worker in pool:
            if not worker.conn.closed:
                retire(worker)
        for worker in pool:
            # After an early exit (a trial error with errors="raise", Ctrl-C) running
            # trials are not waited for.
            _reap(worker, timeout=5 if finished else 0.1)

"""The tasks of a sweep, handed to an executor one at a time and claimed in the store as they go.

An executor takes a task only when it has a free worker, so a task is claimed
(see :meth:`ResultStore.claim`) just before it starts: two sweeps on one store
take turns at the remaining keys and split the work. Keys another live sweep
holds are set aside (``deferred``) and waited for once this sweep has nothing
else to do; keys another sweep has finished meanwhile are picked up from the
store (``found``) instead of being computed again.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from repdyn.sweep._store import ResultStore, SweepWarning
from repdyn.sweep._trial import is_problem

Task = tuple[int, Any]
#: Seconds between looks at keys that another sweep is computing.
POLL_SECONDS = 0.25
#: Seconds between the lines that say what a waiting sweep waits for.
REPORT_SECONDS = 60.0


def _say(text: str) -> None:
    print(f"repdyn sweep: {text}", file=sys.stderr, flush=True)


class TaskQueue:
    """A deque-like source of tasks (``popleft``, ``appendleft``, truth, ``len``) that claims as it hands out.

    Parameters
    ----------
    tasks : sequence of (index, config)
        What is left to compute, in order.
    keys : sequence of str
        Cache key of every config (indexed by the task's index).
    store : ResultStore or None
        Without a store nothing is claimed and the queue is a plain deque.
    recompute_failed : bool
        Whether an error record another sweep stored still counts as missing.
    """

    def __init__(self, tasks: Sequence[Task], keys: Sequence[str], store: ResultStore | None,
                 recompute_failed: bool = True) -> None:
        self._todo: deque[Task] = deque(tasks)
        self._ready: deque[Task] = deque()
        self._keys = keys
        self._store = store
        self._recompute_failed = recompute_failed
        self._held: set[str] = set()
        self.deferred: list[Task] = []
        self.found: dict[str, dict[str, Any]] = {}

    def _usable(self, result: dict[str, Any] | None) -> bool:
        return result is not None and not (self._recompute_failed and is_problem(result))

    def _fill(self) -> None:
        """Claim the next task that is neither held by another sweep nor already stored."""
        while not self._ready and self._todo:
            index, config = self._todo.popleft()
            key = self._keys[index]
            if self._store is None:
                self._ready.append((index, config))
                return
            if not self._store.claim(key):
                self.deferred.append((index, config))
                continue
            # Another sweep may have stored it between our first look and the claim
            # (it writes the entry before it releases the claim).
            stored = self._store.get(key)
            if self._usable(stored):
                self._store.release(key)
                self.found[key] = stored
                continue
            self._held.add(key)
            self._ready.append((index, config))

    def __bool__(self) -> bool:
        self._fill()
        return bool(self._ready)

    def __len__(self) -> int:
        return len(self._ready) + len(self._todo)

    def __iter__(self) -> Iterator[Task]:
        while self:
            yield self._ready.popleft()

    def popleft(self) -> Task:
        self._fill()
        return self._ready.popleft()

    def appendleft(self, task: Task) -> None:
        """Put back a task that was handed out but not run (its claim is kept)."""
        self._ready.appendleft(task)

    def release(self, key: str) -> None:
        """Release the claim on ``key`` once its entry is written."""
        if key in self._held and self._store is not None:
            self._store.release(key)
            self._held.discard(key)

    def release_all(self) -> None:
        """Release every claim still held (the sweep stops early or ends)."""
        for key in list(self._held):
            self.release(key)

    def take_found(self) -> dict[str, dict[str, Any]]:
        """The results other sweeps stored for our keys since the last call."""
        found, self.found = self.found, {}
        return found

    def wait_for_others(self, timeout: float, say: Callable[[str], None] = _say) -> None:
        """Wait until every deferred key is stored by its owner, or can be claimed by us.

        A key whose claim was released without an entry (its sweep was
        stopped), or whose owner died, is claimed by us; the call returns as
        soon as we hold such a key or none is left to wait for. What it waits
        for (the owners and their claim files) is said at once and every
        ``REPORT_SECONDS``; after ``timeout`` seconds the keys still held are
        taken over and computed here too (a :class:`SweepWarning` says so).
        """
        assert self._store is not None or not self.deferred
        start = time.monotonic()
        next_report = start
        while self.deferred:
            waiting = []
            for index, config in self.deferred:
                key = self._keys[index]
                stored = self._store.get(key) if key in self._store else None
                if self._usable(stored):
                    self.found[key] = stored
                elif self._store.claim_owner(key) is None or self._store.claim_is_stale(key):
                    self._todo.append((index, config))
                else:
                    waiting.append((index, config))
            self.deferred = waiting
            # Claim here, so that an executor is started only for a key we hold
            # (a key claimed by someone else again goes back to deferred).
            self._fill()
            if self._ready or not self.deferred:
                return
            now = time.monotonic()
            if now - start >= timeout:
                self._take_over_deferred(timeout)
                return
            if now >= next_report:
                say(self._waiting_for(timeout - (now - start)))
                next_report = now + REPORT_SECONDS
            time.sleep(POLL_SECONDS)

    def _waiting_for(self, left: float) -> str:
        owners: dict[str, list[str]] = {}
        for index, _ in self.deferred:
            key = self._keys[index]
            owner = self._store.claim_owner(key) or {}
            who = f"pid {owner.get('pid', '?')} on {owner.get('host', '?')}"
            owners.setdefault(who, []).append(str(self._store.claim_path(key)))
        held = "; ".join(f"{who} ({len(paths)}: {paths[0]}{', ...' if len(paths) > 1 else ''})"
                         for who, paths in owners.items())
        return (f"waiting for {len(self.deferred)} trial(s) that other processes are computing: {held}. "
                f"Computing them here as well in {left:.0f} s (claim_timeout); if those processes are "
                "not sweeps, delete the claim files to go on now")

    def _take_over_deferred(self, timeout: float) -> None:
        paths = [str(self._store.claim_path(self._keys[index])) for index, _ in self.deferred]
        warnings.warn(
            f"waited {timeout:g} s (claim_timeout) for {len(paths)} trial(s) claimed by other processes "
            f"({paths[0]}{', ...' if len(paths) > 1 else ''}); computing them here as well",
            SweepWarning, stacklevel=3,
        )
        for index, config in self.deferred:
            key = self._keys[index]
            self._store.take_over(key)
            self._held.add(key)
            self._ready.append((index, config))
        self.deferred = []

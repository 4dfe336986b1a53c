"""Trial functions for tests/test_sweep.py, importable by worker processes.

Each trial is cheap numpy work whose result depends only on its config; the
optional side effects (an invocation log, a marker file, dying) let tests see
how often and where a trial really ran.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np


@dataclasses.dataclass(frozen=True)
class Opt:
    lr: float = 0.1
    momentum: float = 0.0


@dataclasses.dataclass(frozen=True)
class WalkConfig:
    """Config of :func:`walk`. ``mode`` picks a misbehaviour; ``log`` and ``marker`` are paths."""

    seed: int
    n: int = 6
    scale: float = 1.0
    label: str = "a"
    widths: tuple[int, ...] = (3, 4)
    opt: Opt = Opt()
    flag: bool = False
    note: str | None = None
    sleep: float = 0.0
    mode: str = "ok"
    log: str | None = None
    marker: str | None = None


def _log(config: WalkConfig) -> None:
    if config.log is not None:
        # One short O_APPEND write per call is atomic, even from several processes.
        fd = os.open(config.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{config.seed} {os.getpid()}\n".encode())
        finally:
            os.close(fd)


def _die_once(config: WalkConfig) -> None:
    """Kill this process the first time (no marker yet), so the retry succeeds."""
    if config.mode not in ("exit_once", "sigkill_once", "exit_always"):
        return
    marker = Path(str(config.marker))
    if config.mode == "exit_always" or not marker.exists():
        marker.touch()
        sys.stdout.flush()
        if config.mode == "sigkill_once":
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(3)


def walk(config: WalkConfig) -> dict:
    """A seeded random walk: scalars of every JSON kind and two 1-D arrays."""
    _log(config)
    _die_once(config)
    if config.sleep:
        time.sleep(config.sleep)
    if config.mode == "raise":
        raise ValueError(f"trial {config.seed} was told to raise")
    rng = np.random.default_rng([config.seed, len(config.widths)])
    steps = rng.normal(size=config.n) * config.scale * config.opt.lr
    path = np.cumsum(steps)
    return {
        "final": float(path[-1]),
        "path": path,
        "counts": np.arange(config.n, dtype=np.int64) * config.seed,
        "status": "converged" if abs(path[-1]) < 10 else "diverged",
        "n_steps": np.int64(config.n),
        "label": config.label,
        "flag": config.flag,
        "nothing": None,
    }


def walk_dict(config: dict) -> dict:
    """The same trial for plain-dict configs."""
    return walk(WalkConfig(**config))


def bad_result(config: dict) -> dict:
    """Returns a list, which is not a valid result field."""
    return {"values": [1.0, 2.0]}


def thread_state(config: dict) -> dict:
    """Reports the thread settings a trial sees (importing torch if asked)."""
    if config.get("torch"):
        import torch

        torch_threads = torch.get_num_threads()
    else:
        torch_threads = -1
    return {
        "omp": os.environ.get("OMP_NUM_THREADS", ""),
        "mkl": os.environ.get("MKL_NUM_THREADS", ""),
        "torch_threads": torch_threads,
        "pid": os.getpid(),
    }


def sweep_main(store: str, log: str, n: int, sleep: float) -> None:
    """Entry point for the kill-and-resume test: a process-pool sweep in a subprocess."""
    from repdyn.sweep import run_sweep

    configs = [WalkConfig(seed=i, sleep=sleep, log=log) for i in range(n)]
    run_sweep(walk, configs, store=store, executor="process", workers=2, progress=False)


def two_point_failing_on_seed_1(config):
    """The two-point trial, except that the trial of seed 1 raises (a run with one errored trial)."""
    from repdyn.runs import two_point_trial

    if config.seed == 1:
        raise RuntimeError("seed 1 fails on purpose")
    return two_point_trial(config)


def listeners(config: dict) -> dict:
    """The addresses every process of the driver's tree (``config["driver"]``) listens on.

    Run as a trial on a Dask cluster the driver started, it sees the scheduler
    (in the driver or its job), the nannies and the workers while they run.
    """
    import psutil

    driver = psutil.Process(config["driver"])
    seen = []
    for process in [driver, *driver.children(recursive=True)]:
        try:
            connections = process.net_connections(kind="inet")
        except psutil.Error:
            continue
        seen += [f"{process.pid} {c.laddr.ip} {c.laddr.port}" for c in connections
                 if c.status == psutil.CONN_LISTEN]
    return {"listeners": ";".join(sorted(seen)), "processes": np.int64(1 + len(driver.children(recursive=True)))}

"""Sweeps on batch-scheduler clusters (dask-jobqueue), tested with its local job class."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from repdyn.sweep import JobQueue, run_sweep

from _sweep_trials import WalkConfig, listeners, walk

pytest.importorskip("dask_jobqueue")


def test_local_jobs_run_a_sweep(tmp_path, monkeypatch):
    # The jobs are new processes: they find the test trials through PYTHONPATH.
    tests = str(Path(__file__).parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")])))
    configs = [WalkConfig(seed=s) for s in range(4)]
    expected = run_sweep(walk, configs, executor="local", progress=False)
    cluster = JobQueue("local", cores=1, memory="1GB", jobs=2)
    results = run_sweep(walk, configs, store=tmp_path, executor="dask", scheduler=cluster,
                        progress=False)
    assert [r["final"] for r in results] == [r["final"] for r in expected]


def test_slurm_job_script_carries_the_resources():
    script = JobQueue("slurm", cores=16, memory="32GB", walltime="04:00:00", queue="gpu",
                      jobs=3).job_script()
    assert "#SBATCH -t 04:00:00" in script and "#SBATCH -p gpu" in script
    assert "#SBATCH --cpus-per-task=16" in script and "--nworkers 16" in script
    assert "export OMP_NUM_THREADS=1" in script


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "slurmm"}, "kind must be one of"),
        ({"kind": "slurm", "cores": 0}, "cores must be an integer >= 1; got 0"),
        ({"kind": "pbs", "memory": "lots"}, "memory must read like '4GB'"),
        ({"kind": "pbs", "walltime": "1h"}, "walltime must read HH:MM:SS"),
    ],
)
def test_bad_cluster_options_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        JobQueue(**kwargs)
    with pytest.raises(TypeError, match="jobs must be an integer >= 1; got 1.5"):
        JobQueue(kind="sge", jobs=1.5)


_LOOPBACK = ("127.0.0.1", "::1")


def _listening(results) -> list[tuple[int, str, int]]:
    found = [entry.split() for r in results for entry in r["listeners"].split(";") if entry]
    return [(int(pid), ip, int(port)) for pid, ip, port in found]


def test_a_local_dask_cluster_listens_on_loopback_only(tmp_path, monkeypatch):
    # `--executor dask` without a scheduler: the scheduler, nannies, workers and
    # every dashboard must be out of reach of other machines.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(Path(__file__).parent),
                                                                   os.environ.get("PYTHONPATH")])))
    results = run_sweep(listeners, [{"driver": os.getpid(), "n": i} for i in range(2)], executor="dask",
                        workers=2, progress=False)
    seen = _listening(results)
    assert len({pid for pid, _, _ in seen}) >= 3  # the scheduler (here) and two worker processes
    assert all(ip in _LOOPBACK for _, ip, _ in seen), seen


def test_local_jobs_listen_on_loopback_only(tmp_path, monkeypatch):
    # `--executor dask --cluster local` listened on every interface.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(Path(__file__).parent),
                                                                   os.environ.get("PYTHONPATH")])))
    cluster = JobQueue("local", cores=1, memory="1GB", jobs=1)
    assert cluster.listen == "127.0.0.1"
    results = run_sweep(listeners, [{"driver": os.getpid()}], executor="dask", scheduler=cluster,
                        progress=False)
    seen = _listening(results)
    assert len({pid for pid, _, _ in seen}) >= 2 and any(port for _, _, port in seen)
    assert all(ip in _LOOPBACK for _, ip, _ in seen), seen


def test_the_listening_address_can_be_chosen():
    assert JobQueue("local", host="0.0.0.0").listen == "0.0.0.0"
    assert JobQueue("slurm").listen is None  # the compute nodes must reach it: dask-jobqueue's choice
    assert JobQueue("slurm", host="10.1.2.3").listen == "10.1.2.3"
    cluster = JobQueue("slurm", host="127.0.0.1").cluster()
    try:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert "--dashboard-address 127.0.0.1:0" in cluster.job_script()  # a worker's page stays on its node
    finally:
        cluster.close()
    with pytest.raises(ValueError, match="host must be an IP address or host name"):
        JobQueue("local", host="not a host")
    with pytest.raises(ValueError, match="host must be an IP address or host name"):
        run_sweep(walk, [WalkConfig(seed=0)], executor="dask", host="")

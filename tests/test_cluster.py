"""Sweeps on batch-scheduler clusters (dask-jobqueue), tested with its local job class."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from repdyn.sweep import JobQueue, run_sweep

from _sweep_trials import WalkConfig, walk

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

"""Tests of repdyn.sweep: cache keys, the crash-safe store, executors, resuming, tables.

Trial functions live in tests/_sweep_trials.py so that worker processes can
import them. Every trial may append "<seed> <pid>" to a log file, which is how
the tests count where and how often trials really ran.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _sweep_trials import Opt, WalkConfig, bad_result, thread_state, walk, walk_dict
from hypothesis import given, settings
from hypothesis import strategies as st

from repdyn.sweep import (
    RESULT_FORMAT_VERSION,
    ResultStore,
    SweepWarning,
    TrialError,
    cache_key,
    canonical_json,
    results_dataset,
    results_frame,
    run_sweep,
    trial,
    trial_name,
)

TESTS_DIR = Path(__file__).parent


def log_seeds(log: Path) -> list[int]:
    if not log.exists():
        return []
    return [int(line.split()[0]) for line in log.read_text().splitlines()]


def assert_same_results(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        assert ra.keys() == rb.keys()
        for name in ra:
            if isinstance(ra[name], np.ndarray):
                assert ra[name].dtype == rb[name].dtype
                np.testing.assert_array_equal(ra[name], rb[name])  # bitwise, not approximate
            else:
                assert type(ra[name]) is type(rb[name]) and ra[name] == rb[name], name


def direct(configs: list[WalkConfig]) -> list[dict]:
    """The oracle: the trial called directly, with no sweep machinery at all.

    Results hold Python scalars (numpy scalars are converted), as a store's JSON would.
    """
    out = []
    for c in configs:
        r = walk(dataclasses.replace(c, log=None, mode="ok", marker=None))
        out.append({k: v.item() if isinstance(v, np.generic) else v for k, v in r.items()})
    return out


# -- cache keys ------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
FIELD_VALUES = {
    "seed": st.integers(-(2**40), 2**40),
    "n": st.integers(1, 1000),
    "scale": finite,
    "label": st.text(max_size=8),
    "widths": st.lists(st.integers(0, 10**6), max_size=4).map(tuple),
    "opt": st.builds(Opt, lr=finite, momentum=finite),
    "flag": st.booleans(),
    "note": st.none() | st.text(max_size=5),
}
configs_st = st.builds(WalkConfig, **FIELD_VALUES)


@settings(max_examples=100, deadline=None)
@given(config=configs_st)
def test_key_is_stable_for_equal_configs(config):
    rebuilt = WalkConfig(**{f.name: getattr(config, f.name) for f in dataclasses.fields(config)})
    as_numpy = dataclasses.replace(
        config,
        seed=np.int64(config.seed),
        scale=np.float64(config.scale),
        flag=np.bool_(config.flag),
    )
    key = cache_key(walk, config)
    assert len(key) == 64 and key == cache_key(walk, rebuilt) == cache_key(walk, as_numpy)


@settings(max_examples=300, deadline=None)
@given(config=configs_st, data=st.data())
def test_key_changes_when_any_field_changes(config, data):
    field = data.draw(st.sampled_from(sorted(FIELD_VALUES)))
    new = data.draw(FIELD_VALUES[field].filter(lambda v: v != getattr(config, field)))
    changed = dataclasses.replace(config, **{field: new})
    assert cache_key(walk, changed) != cache_key(walk, config)


@settings(max_examples=100, deadline=None)
@given(value=finite)
def test_canonical_floats_round_trip(value):
    text = canonical_json({"x": value})
    back = json.loads(text)["x"]
    assert back == value and type(back) is float


def test_key_depends_on_trial_kind_of_config_and_version():
    d = {"seed": 1, "n": 3, "scale": 0.5}
    reordered = {"scale": 0.5, "n": 3, "seed": 1}
    assert cache_key(walk_dict, d) == cache_key(walk_dict, reordered)
    assert cache_key(walk_dict, d) != cache_key(walk, d)  # another trial function
    assert cache_key(walk_dict, {**d, "n": 3.0}) != cache_key(walk_dict, d)  # int vs float
    assert cache_key(walk_dict, {**d, "extra": None}) != cache_key(walk_dict, d)
    config = WalkConfig(seed=1)
    as_dict = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    assert cache_key(walk_dict, as_dict) != cache_key(walk_dict, config)  # class name is recorded
    # Non-finite floats have a stable, strictly valid JSON form, distinct from each other.
    nan_json = canonical_json({"x": float("nan")})
    json.loads(nan_json, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert nan_json == canonical_json({"x": np.float64("nan")})
    assert nan_json != canonical_json({"x": float("inf")})


def test_result_version_attribute_changes_key(monkeypatch):
    before = cache_key(walk, WalkConfig(seed=1))
    monkeypatch.setattr(walk, "result_version", 2, raising=False)
    assert cache_key(walk, WalkConfig(seed=1)) != before


def test_a_stable_trial_name_survives_a_move_and_a_module_path_does_not(tmp_path):
    # The same function body in two modules: one run where it lived, one where it moved to.
    source = "from repdyn.sweep import trial\n\n{decorator}def measure(config):\n    return {{'x': config['x']}}\n"
    keys = {}
    for stable in (False, True):
        for place in ("old_home", "new_home"):
            module_name = f"{place}_{int(stable)}"
            path = tmp_path / f"{module_name}.py"
            path.write_text(source.format(decorator='@trial("measure")\n' if stable else ""))
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            keys[stable, place] = (cache_key(module.measure, {"x": 1}), trial_name(module.measure))
    assert keys[True, "old_home"] == keys[True, "new_home"] == (keys[True, "old_home"][0], "measure")
    assert keys[False, "old_home"][0] != keys[False, "new_home"][0]
    with pytest.raises(TypeError, match="non-empty string"):
        trial(" padded ")


def test_key_is_stable_across_processes():
    configs = [WalkConfig(seed=s, label="x" * s, scale=0.1 * s) for s in range(4)]
    code = (
        "from _sweep_trials import WalkConfig, walk\n"
        "from repdyn.sweep import cache_key\n"
        "for s in range(4):\n"
        "    print(cache_key(walk, WalkConfig(seed=s, label='x' * s, scale=0.1 * s)))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])), "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [cache_key(walk, c) for c in configs]


def test_configs_without_canonical_form_are_rejected():
    with pytest.raises(TypeError, match=r"config\.tags.*set"):
        cache_key(walk_dict, {"tags": {1, 2}})
    with pytest.raises(TypeError, match="str keys"):
        cache_key(walk_dict, {"map": {1: 2}})
    with pytest.raises(TypeError, match="top level"):
        cache_key(lambda c: c, {"a": 1})
    with pytest.raises(TypeError, match=r"configs\[1\]"):
        run_sweep(walk_dict, [{"seed": 1}, {"seed": object()}], executor="local")


# -- the store -------------------------------------------------------------------

KEY = "ab" + "0" * 62


def sample_result() -> dict:
    return {
        "loss": np.linspace(0, 1, 7, dtype=np.float32),
        "grid": np.arange(6, dtype=np.int64).reshape(2, 3),
        "mask": np.array([True, False]),
        "empty": np.zeros(0),
        "names": np.array(["h", "y", "w"]),
        "rate": 0.1 + 0.2,
        "nan": float("nan"),
        "inf": float("-inf"),
        "big": 2**62 + 1,
        "none": None,
        "ok": True,
        "status": "converged",
    }


def assert_result_equal(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for name, value in want.items():
        if isinstance(value, np.ndarray):
            assert got[name].dtype == value.dtype and got[name].shape == value.shape
            np.testing.assert_array_equal(got[name], value)
        elif isinstance(value, float) and np.isnan(value):
            assert np.isnan(got[name])
        else:
            assert got[name] == value and type(got[name]) is type(value)


def test_store_round_trip(tmp_path):
    store = ResultStore(tmp_path / "s")
    want = sample_result()
    assert KEY not in store and store.get(KEY) is None and len(store) == 0
    store.put(
        KEY,
        {**want, "rate": np.float64(want["rate"])},
        config=WalkConfig(seed=3),
        trial="m.f",
        seconds=1.5,
    )
    assert KEY in store and store.keys() == [KEY] and len(store) == 1
    assert_result_equal(store.get(KEY), want)
    entry = ResultStore(tmp_path / "s").entry(KEY)  # a fresh handle reads the same
    assert entry.trial == "m.f" and entry.seconds == 1.5 and entry.config["seed"] == 3
    assert entry.config["__dataclass__"] == "WalkConfig"
    scalars_only = store.entry(KEY, arrays=False).result
    assert scalars_only.keys() == {k for k, v in want.items() if not isinstance(v, np.ndarray)}
    # The entry is a plain .npz that numpy reads, with the metadata beside the arrays.
    path = store.path(KEY)
    assert path == tmp_path / "s" / "ab" / f"{KEY}.npz"
    with np.load(path) as npz:
        np.testing.assert_array_equal(npz["loss"], want["loss"])
        meta = json.loads(npz["meta.json"])
    assert meta["format"] == RESULT_FORMAT_VERSION and meta["key"] == KEY
    assert store.remove(KEY) and KEY not in store and not store.remove(KEY)
    with pytest.raises(ValueError, match="key"):
        store.get("../../etc/passwd")
    with pytest.raises(TypeError, match="'values'"):
        store.put(KEY, {"values": [1, 2]})


@pytest.mark.parametrize("fsync", [True, False])
def test_store_flushes_to_disk_unless_told_not_to(tmp_path, monkeypatch, fsync):
    calls = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd) or real_fsync(fd))
    store = ResultStore(tmp_path, fsync=fsync)
    store.put(KEY, {"a": np.ones(3)})
    assert len(calls) == (2 if fsync else 0)  # the file, then its directory
    np.testing.assert_array_equal(store.get(KEY)["a"], np.ones(3))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_leftover_temp_files_are_ignored_and_cleaned(tmp_path):
    import socket

    store = ResultStore(tmp_path)
    store.put(KEY, {"x": 1})
    host = socket.gethostname()
    dead = tmp_path / "ab" / f".tmp-{host}-{dead_pid()}-deadbeef.npz"
    live = tmp_path / "ab" / f".tmp-{host}-{os.getppid()}-cafecafe.npz"  # a running writer
    dead.write_bytes(b"PK\x03\x04 half written")
    live.write_bytes(b"PK\x03\x04 being written")
    assert store.keys() == [KEY] and len(store) == 1
    assert ResultStore(tmp_path).get(KEY) == {"x": 1}  # opening cleans
    assert not dead.exists() and live.exists()


CRASH_SCRIPT = """
import os, sys
import numpy as np
from repdyn.sweep import ResultStore
store = ResultStore(sys.argv[1])
def die(*args, **kwargs):
    os._exit(9)
if sys.argv[2] == "replace":
    os.replace = die   # killed after the temp file is complete, before the rename
else:
    np.lib.format.write_array = die   # killed in the middle of writing the arrays
store.put(sys.argv[3], {"x": 2, "a": np.arange(1000.0)})
"""


@pytest.mark.parametrize("crash_at", ["replace", "arrays"])
def test_crash_mid_write_keeps_old_entry(tmp_path, crash_at):
    store = ResultStore(tmp_path)
    store.put(KEY, {"x": 1, "a": np.zeros(3)})
    proc = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(tmp_path), crash_at, KEY], check=False
    )
    assert proc.returncode == 9
    leftovers = list((tmp_path / "ab").glob(".tmp-*"))
    assert len(leftovers) == 1  # the crash really left a partial file behind
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is corrupt, so nothing may be reported
        reopened = ResultStore(tmp_path)
        assert reopened.keys() == [KEY]
        assert_result_equal(reopened.get(KEY), {"x": 1, "a": np.zeros(3)})
    assert not leftovers[0].exists()


def corrupt(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif how == "garbage":
        path.write_bytes(b"not a zip file at all")
    else:  # one flipped bit inside the array data, caught by the zip CRC
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("path.npy")
        offset = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
        data[offset] ^= 0x01
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "garbage", "bitflip"])
def test_corrupt_entry_is_reported_and_recomputed(tmp_path, how):
    log = tmp_path / "log"
    configs = [WalkConfig(seed=s, n=40, log=str(log)) for s in range(3)]
    store = ResultStore(tmp_path / "store")
    first = run_sweep(walk, configs, store=store, executor="local")
    key = cache_key(walk, configs[1])
    corrupt(store.path(key), how)
    with pytest.warns(SweepWarning, match="unreadable"):
        again = run_sweep(walk, configs, store=store, executor="local")
    assert log_seeds(log) == [0, 1, 2, 1]  # only the corrupt one ran again
    assert_same_results(again, first)
    assert_same_results([store.get(key)], [first[1]])  # repaired on disk
    assert len(list((tmp_path / "store" / "corrupt").iterdir())) == 1  # kept for inspection


# -- run_sweep -------------------------------------------------------------------


def test_sweep_caches_dedupes_and_keeps_order(tmp_path):
    log = tmp_path / "log"
    configs = [WalkConfig(seed=s, log=str(log)) for s in (3, 1, 3, 2)]
    store = ResultStore(tmp_path / "store")
    first = run_sweep(walk, configs, store=store, executor="local")
    assert sorted(log_seeds(log)) == [1, 2, 3]  # the repeated config ran once
    assert_same_results(first, direct(configs))
    second = run_sweep(walk, configs[::-1] + [configs[0]], store=store, executor="local")
    assert len(log_seeds(log)) == 3  # all cached
    assert_same_results(second, direct(configs[::-1] + [configs[0]]))
    assert len(store) == 3


def test_trial_errors_are_recorded_not_dropped(tmp_path):
    log = tmp_path / "log"
    configs = [WalkConfig(seed=s, log=str(log), mode="raise" if s == 1 else "ok") for s in range(3)]
    store = ResultStore(tmp_path / "store")
    with pytest.warns(SweepWarning, match="1 raised"):
        results = run_sweep(walk, configs, store=store, executor="local")
    assert results[1]["status"] == "error"
    assert "ValueError: trial 1 was told to raise" in results[1]["error"]
    assert_same_results([results[0], results[2]], direct([configs[0], configs[2]]))
    assert store.get(cache_key(walk, configs[1]))["status"] == "error"
    # The stored error record is retried on the next run, unless asked not to.
    with pytest.warns(SweepWarning):
        run_sweep(walk, configs, store=store, executor="local", recompute_failed=False)
    assert log_seeds(log) == [0, 1, 2]
    with pytest.warns(SweepWarning):
        run_sweep(walk, configs, store=store, executor="local")
    assert log_seeds(log) == [0, 1, 2, 1]
    with pytest.raises(TrialError, match="told to raise"):
        run_sweep(walk, configs, executor="local", errors="raise")


def test_raising_stops_the_pool_and_leaves_no_workers(tmp_path):
    import multiprocessing

    configs = [WalkConfig(seed=0, mode="raise")] + [WalkConfig(seed=s, sleep=2.0) for s in (1, 2)]
    store = ResultStore(tmp_path)
    with pytest.raises(TrialError, match="told to raise"):
        run_sweep(walk, configs, store=store, executor="process", workers=2, errors="raise")
    assert multiprocessing.active_children() == []  # running trials were stopped, not orphaned
    assert store.get(cache_key(walk, configs[0]))["status"] == "error"


def test_invalid_results_become_error_records():
    with pytest.warns(SweepWarning):
        (result,) = run_sweep(bad_result, [{"a": 1}], executor="local")
    assert (
        result["status"] == "error" and "'values'" in result["error"] and "list" in result["error"]
    )


def test_process_pool_matches_local(tmp_path):
    log = tmp_path / "log"
    configs = [WalkConfig(seed=s, n=5 + s, log=str(log), label=str(s)) for s in range(6)]
    local = run_sweep(walk, configs, executor="local")
    pooled = run_sweep(walk, configs, store=tmp_path / "store", executor="process", workers=2)
    assert_same_results(pooled, local)
    assert_same_results(local, direct(configs))
    pids = {int(line.split()[1]) for line in log.read_text().splitlines()}
    assert os.getpid() in pids and len(pids - {os.getpid()}) == 2  # really ran in 2 workers


def test_dead_workers_are_retried_then_recorded_as_failed(tmp_path):
    log = tmp_path / "log"

    def cfg(seed, mode="ok"):
        return WalkConfig(seed=seed, log=str(log), mode=mode, marker=str(tmp_path / f"m{seed}"))

    configs = [cfg(0), cfg(1, "exit_once"), cfg(2, "sigkill_once"), cfg(3), cfg(4, "exit_always")]
    store = ResultStore(tmp_path / "store")
    with pytest.warns(SweepWarning, match="1 lost their worker"):
        results = run_sweep(walk, configs, store=store, executor="process", workers=2, retries=2)
    seeds = log_seeds(log)
    assert [seeds.count(s) for s in range(5)] == [1, 2, 2, 1, 3]
    assert_same_results(results[:4], direct(configs[:4]))
    assert results[4]["status"] == "failed"
    assert "exited with code 3" in results[4]["error"] and "3 attempts" in results[4]["error"]
    assert_same_results([store.get(cache_key(walk, c)) for c in configs[:4]], results[:4])
    # retries=0: one attempt only; SIGKILL is named in the record.
    with pytest.warns(SweepWarning):
        (once,) = run_sweep(
            walk, [cfg(5, "sigkill_once")], executor="process", workers=1, retries=0
        )
    assert once["status"] == "failed" and "SIGKILL" in once["error"]
    assert log_seeds(log).count(5) == 1


def count_entries(directory: Path) -> int:
    return len(ResultStore(directory, clean=False)) if directory.exists() else 0


def test_killed_sweep_resumes_without_recomputing(tmp_path):
    store_dir, log = tmp_path / "store", tmp_path / "log"
    n, sleep = 12, 0.2
    code = (
        f"import _sweep_trials as t; t.sweep_main({str(store_dir)!r}, {str(log)!r}, {n}, {sleep})"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")]))}
    # Its own session, so that one signal kills the driver and its worker processes at once.
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while count_entries(store_dir) < 3:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "the sweep wrote no results"
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    configs = [WalkConfig(seed=i, sleep=sleep, log=str(log)) for i in range(n)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", SweepWarning)  # no entry may be corrupt
        stored = {e.config["seed"] for e in ResultStore(store_dir).load_all()}
    assert 3 <= len(stored) < n
    ran_before = len(log_seeds(log))
    # Results are written as they arrive: only the trials running at the kill
    # (one per worker) can have run without being stored.
    assert ran_before - len(stored) <= 2
    results = run_sweep(walk, configs, store=store_dir, executor="process", workers=2)
    rerun = log_seeds(log)[ran_before:]
    assert sorted(rerun) == sorted(set(range(n)) - stored)  # each missing trial once, no others
    assert_same_results(results, direct(configs))
    assert not list(store_dir.glob("*/.tmp-*"))  # a write cut short by the kill was cleaned


def test_workers_that_cannot_start_stop_the_sweep_with_a_clear_error():
    # A driver script read from stdin cannot be re-imported by spawned workers.
    script = (
        "from _sweep_trials import WalkConfig, walk\n"
        "from repdyn.sweep import run_sweep\n"
        "run_sweep(walk, [WalkConfig(seed=s) for s in range(50)], executor='process', workers=2)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(
        [sys.executable, "-"], input=script, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode != 0
    assert "3 worker processes in a row died while starting" in proc.stderr
    assert proc.stderr.count("spawn_main") <= 4  # gave up at once, not after 50 x 3 attempts


def test_workers_run_single_threaded(tmp_path):
    before = os.environ.get("OMP_NUM_THREADS")
    (state,) = run_sweep(thread_state, [{"torch": True}], executor="process", workers=1)
    assert state["pid"] != os.getpid()
    assert (state["omp"], state["mkl"], state["torch_threads"]) == ("1", "1", 1)
    assert os.environ.get("OMP_NUM_THREADS") == before  # the driver's environment is untouched


def test_local_executor_gives_torch_one_thread_and_restores_it():
    torch = pytest.importorskip("torch")
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        (state,) = run_sweep(thread_state, [{"torch": True}], executor="local")
        assert state["torch_threads"] == 1 and state["pid"] == os.getpid()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(old)


def test_dask_local_cluster_matches_local_and_retries_dead_workers(tmp_path):
    pytest.importorskip("distributed")
    log = tmp_path / "log"
    configs = [WalkConfig(seed=s, n=4 + s, log=str(log)) for s in range(4)]
    dying = WalkConfig(seed=9, log=str(log), mode="exit_once", marker=str(tmp_path / "m"))
    local = run_sweep(walk, configs, executor="local")
    # processes=True (the default): a worker that dies must not take the test process with it.
    distributed = run_sweep(walk, [*configs, dying], executor="dask", workers=2)
    assert_same_results(distributed, local + direct([dying]))
    assert log_seeds(log).count(9) == 2


def test_dask_attaches_to_a_running_scheduler():
    distributed = pytest.importorskip("distributed")
    configs = [WalkConfig(seed=s) for s in range(3)]
    # Threads in this process are enough here: these trials neither die nor use torch.
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        results = run_sweep(walk, configs, executor="dask", scheduler=cluster.scheduler_address)
    assert_same_results(results, direct(configs))


def test_progress_bar_only_when_asked_or_on_a_terminal(tmp_path, capsys):
    configs = [WalkConfig(seed=s) for s in range(5)]
    run_sweep(walk, configs[:2], store=tmp_path, executor="local")
    run_sweep(walk, configs, store=tmp_path, executor="local")  # stderr is captured: no tty
    assert capsys.readouterr().err == ""
    run_sweep(walk, configs + [WalkConfig(seed=7)], store=tmp_path, executor="local", progress=True)
    err = capsys.readouterr().err
    assert "6/6" in err and "5/6" in err and "0/6" not in err  # starts at the 5 cached ones


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"executor": "threads"}, "executor must be one of"),
        ({"workers": 0}, "workers must be an integer >= 1; got 0. Leave it out for one worker per core"),
        ({"scheduler": "tcp://h:1"}, "only applies to executor 'dask'"),
        (
            {"executor": "dask", "scheduler": "tcp://h:1", "workers": 2},
            "either scheduler or workers",
        ),
        ({"retries": -1}, "retries must be an integer >= 0; got -1"),
        ({"errors": "ignore"}, "errors must be 'record' or 'raise'"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_sweep(walk, [WalkConfig(seed=1)], **kwargs)
    with pytest.raises(TypeError, match="progress must be True or False; got 'yes'"):
        run_sweep(walk, [WalkConfig(seed=1)], progress="yes")


def test_unpicklable_trials_are_rejected_before_starting():
    @dataclasses.dataclass(frozen=True)
    class Local:
        seed: int

    with pytest.raises(TypeError, match=r"configs\[0\] cannot be pickled"):
        run_sweep(walk, [Local(1)], executor="process")


# -- tables ----------------------------------------------------------------------


def test_results_frame_columns_and_rows(tmp_path):
    configs = [WalkConfig(seed=s, opt=Opt(lr=0.1 * (s + 1))) for s in range(3)]
    store = ResultStore(tmp_path)
    results = run_sweep(walk, configs, store=store, executor="local")
    frame = results_frame(results, configs)
    assert frame.shape[0] == 3
    assert {"seed", "opt_lr", "opt_momentum", "widths", "final", "status", "n_steps"} <= set(
        frame.columns
    )
    assert "path" not in frame.columns and "__dataclass__" not in frame.columns
    assert "result_label" in frame.columns  # the trial echoes a config field: renamed, kept
    assert frame["widths"].tolist() == [(3, 4)] * 3
    np.testing.assert_array_equal(frame["final"], [r["final"] for r in results])
    np.testing.assert_array_equal(frame["opt_lr"], [c.opt.lr for c in configs])
    # The same table from the store alone, and selecting configs with one missing.
    from_store = results_frame(store).sort_values("seed", ignore_index=True)
    assert sorted(from_store.columns) == sorted(frame.columns)
    np.testing.assert_array_equal(from_store["final"], frame["final"])
    picked = results_frame(store, [configs[2], WalkConfig(seed=99)], fn=walk)
    assert picked["seed"].tolist() == [2, 99] and picked["status"].tolist() == [
        "converged",
        "missing",
    ]
    assert results_frame(store, fn=walk_dict).shape[0] == 0
    with pytest.raises(ValueError, match="configs has 1 entries"):
        results_frame(results, configs[:1])


def test_results_dataset_pads_and_labels(tmp_path):
    configs = [WalkConfig(seed=s, n=n) for s, n in [(0, 5), (1, 3), (2, 5)]]
    configs.append(WalkConfig(seed=3, mode="raise"))
    store = ResultStore(tmp_path)
    with pytest.warns(SweepWarning):
        results = run_sweep(walk, configs, store=store, executor="local")
    ds = results_dataset(results, configs, dim="step")
    assert dict(ds.sizes) == {"trial": 4, "step": 5}
    assert ds["path"].dims == ("trial", "step") and ds["final"].dims == ("trial",)
    np.testing.assert_array_equal(ds["path"][0], results[0]["path"])
    np.testing.assert_array_equal(ds["path"][1, :3], results[1]["path"])
    assert np.isnan(ds["path"][1, 3:]).all() and np.isnan(ds["path"][3]).all()
    assert ds["counts"].dtype == np.float64  # int trajectories needing padding become float
    assert ds["seed"].dims == ("trial",) and ds["seed"].values.tolist() == [0, 1, 2, 3]
    assert "opt_lr" in ds.coords and ds["status"].values.tolist()[3] == "error"
    from_store = results_dataset(store, configs, dim="step", fn=walk)
    np.testing.assert_array_equal(from_store["path"], ds["path"])
    np.testing.assert_array_equal(from_store["opt_lr"], ds["opt_lr"])
    only = results_dataset(results[:1], configs[:1], array_fields=["counts"])
    assert list(only.data_vars) == [
        "counts",
        "final",
        "status",
        "n_steps",
        "result_label",
        "result_flag",
        "nothing",
    ]
    assert only["counts"].dtype == np.int64  # nothing to pad: dtype kept
    with pytest.raises(ValueError, match="available"):
        results_dataset(results, array_fields=["nope"])


# --- claims: several sweeps on one store ------------------------------------------------------------------

_CONCURRENT_SWEEP = """
import json, pathlib, sys, time
from _sweep_trials import WalkConfig, walk
from repdyn.sweep import run_sweep
store, go, log = sys.argv[1:4]
while not pathlib.Path(go).exists():
    time.sleep(0.005)
configs = [WalkConfig(seed=i, sleep=0.25, log=log) for i in range(8)]
results = run_sweep(walk, configs, store=store, executor="local")
print(json.dumps([r["final"] for r in results]))
"""


def test_two_concurrent_sweeps_on_one_store_split_the_work(tmp_path):
    store, go, log = tmp_path / "store", tmp_path / "go", tmp_path / "log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    procs = [
        subprocess.Popen([sys.executable, "-c", _CONCURRENT_SWEEP, str(store), str(go), str(log)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    time.sleep(1.0)  # both interpreters up and waiting
    go.touch()
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    finals = [json.loads(out) for out, _ in outputs]
    assert finals[0] == finals[1] and len(finals[0]) == 8  # both see every result
    computed = [line.split() for line in log.read_text().splitlines()]
    # Each trial was computed exactly once, and both sweeps computed some.
    assert sorted(int(seed) for seed, _ in computed) == list(range(8))
    assert len({pid for _, pid in computed}) == 2
    assert not list(store.glob("*/*.claim"))  # every claim released


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_claim(store: ResultStore, key: str, host: str, pid: int) -> None:
    path = store.claim_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": host, "pid": pid, "token": "t", "created": "then"}))


def test_claims_are_exclusive_and_stale_ones_are_taken_over(tmp_path):
    import socket

    store = ResultStore(tmp_path)
    key = cache_key(walk, WalkConfig(seed=1))
    assert store.claim(key) and store.claim(key)  # ours, claimed again
    assert store.claim_owner(key)["pid"] == os.getpid()
    store.release(key)
    assert store.claim_owner(key) is None

    host = socket.gethostname()
    _write_claim(store, key, host, os.getppid())  # a live sweep on this host
    assert not store.claim(key) and not store.claim_is_stale(key)
    _write_claim(store, key, host, _dead_pid())  # its owner is gone
    assert store.claim_is_stale(key) and store.claim(key)
    assert store.claim_owner(key)["pid"] == os.getpid()
    store.release(key)

    _write_claim(store, key, "another-host", 1)  # cannot be checked: fresh means live
    assert not store.claim(key)
    day_ago = time.time() - 2 * 24 * 3600
    os.utime(store.claim_path(key), (day_ago, day_ago))
    assert store.claim(key)
    store.release(key)
    assert store.keys() == []  # claims are no entries


def _now() -> str:
    import datetime

    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


@pytest.mark.parametrize("content", [b"\x00\xff garbage", b"{not json", b"[1, 2]", b'{"host": 3}', b""])
def test_a_claim_file_holding_no_claim_is_stale_with_a_message(tmp_path, content):
    # Such a file made a sweep wait forever, silently.
    store = ResultStore(tmp_path / "store")
    configs = [WalkConfig(seed=i) for i in range(3)]
    path = store.claim_path(cache_key(walk, configs[1]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    if not content:  # an empty claim is being written, unless it is old
        minute_ago = time.time() - 60
        os.utime(path, (minute_ago, minute_ago))
    start = time.monotonic()
    with pytest.warns(SweepWarning, match=r"claim file .*\.claim does not hold a claim"):
        results = run_sweep(walk, configs, store=store, executor="local", claim_timeout=60)
    assert time.monotonic() - start < 30
    assert [r["final"] for r in results] == [walk(c)["final"] for c in configs]
    assert not path.exists()


def test_a_fresh_empty_claim_is_being_written():
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        store = ResultStore(Path(tmp))
        key = cache_key(walk, WalkConfig(seed=0))
        store.claim_path(key).parent.mkdir(parents=True)
        store.claim_path(key).write_bytes(b"")
        assert not store.claim_is_stale(key) and not store.claim(key)


def test_a_claim_of_a_live_process_is_waited_for_with_a_bound_and_a_message(tmp_path, capsys):
    import socket

    # A live process (our parent) holds a fresh claim: the sweep says what it waits
    # for, and after claim_timeout computes the trial itself.
    store = ResultStore(tmp_path / "store")
    configs = [WalkConfig(seed=i) for i in range(3)]
    key = cache_key(walk, configs[2])
    path = store.claim_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getppid(), "token": "t",
                                "created": _now()}))
    start = time.monotonic()
    with pytest.warns(SweepWarning, match=r"waited 1 s \(claim_timeout\) for 1 trial.*computing them here"):
        results = run_sweep(walk, configs, store=store, executor="local", claim_timeout=1.0)
    assert 1.0 <= time.monotonic() - start < 30
    assert [r["final"] for r in results] == [walk(c)["final"] for c in configs]
    err = capsys.readouterr().err
    assert f"waiting for 1 trial(s) that other processes are computing: pid {os.getppid()}" in err
    assert str(path) in err and "claim_timeout" in err
    assert not path.exists()  # taken over, then released


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process start times come from /proc")
def test_a_claim_whose_pid_was_reused_is_stale(tmp_path):
    import socket

    # After a restart another process may have the claim's pid: it started after
    # the claim was written, so it cannot be its owner.
    store = ResultStore(tmp_path)
    key = cache_key(walk, WalkConfig(seed=0))
    path = store.claim_path(key)
    path.parent.mkdir(parents=True)
    owner = {"host": socket.gethostname(), "pid": os.getppid(), "token": "t"}
    path.write_text(json.dumps({**owner, "created": "2000-01-01T00:00:00+00:00"}))
    assert store.claim_is_stale(key)
    path.write_text(json.dumps({**owner, "created": _now()}))
    assert not store.claim_is_stale(key)


def test_dask_cluster_without_the_trial_module_is_reported_before_any_trial(tmp_path, monkeypatch):
    import importlib

    distributed = pytest.importorskip("distributed")
    from repdyn.sweep import ClusterSetupError

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        # Made importable here only after the workers started: they cannot import it.
        (tmp_path / "driver_only_trial.py").write_text("def trial(config):\n    return {'v': 1.0}\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        module = importlib.import_module("driver_only_trial")
        with pytest.raises(ClusterSetupError, match="worker .*driver_only_trial.*ModuleNotFoundError") as info:
            run_sweep(module.trial, [{"seed": 0}], store=tmp_path / "store", executor="dask", scheduler=client)
        assert "install the package that holds driver_only_trial" in str(info.value)
        assert "scheduler" in str(info.value)
    assert len(ResultStore(tmp_path / "store")) == 0  # no trial was charged


def test_unreachable_scheduler_is_named_at_once():
    import socket

    from repdyn.sweep import check_executor

    with socket.socket() as s:  # a port that nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(ValueError, match="no Dask scheduler answers at --scheduler 'tcp://127.0.0.1"):
        check_executor("dask", None, f"tcp://127.0.0.1:{port}", connect=True, names={"scheduler": "--scheduler"})
    assert time.monotonic() - start < 5

"""A corpus of bad command lines: each must exit 2 with one message naming the option or file, no traceback.

Paths in the corpus are templates: ``{d}`` is a directory of prepared bad files,
``{fresh}`` a path that does not exist yet and must still not exist afterwards
(nothing half written).
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from repdyn.cli import app

runner = CliRunner()

SIM = ["theory", "simulate", "--h0", "1", "--y0", "0.1", "--eta-h", "0.01", "--eta-y", "0.01", "--epochs", "20"]
FIT = ["theory", "fit", "--dx2", "1", "--dy2", "0.5"]
PRED = ["theory", "predict", "--h0", "1", "--y0", "0.1", "--eta-h", "0.01", "--eta-y", "0.01"]
RUN = ["run", "two-point", "--units", "4", "--hidden-layers", "1", "--epochs", "5", "--executor", "local"]
RUN_OUT = [*RUN, "--out", "{fresh}"]
DEAD = "tcp://127.0.0.1:1"  # port 1: nothing listens there

# (command line, text the message must contain)
CORPUS = [
    ([*SIM, "--h0", "-1"], "--h0"),
    ([*SIM, "--h0", "nan"], "--h0"),
    ([*SIM, "--y0", "-1"], "--y0"),
    ([*SIM, "--eta-h", "0"], "--eta-h"),
    ([*SIM, "--eta-y", "inf"], "--eta-y"),
    ([*SIM, "--dx2", "0"], "--dx2"),
    ([*SIM, "--dy2", "-0.5"], "--dy2"),
    ([*SIM, "--w0", "5"], "--w0"),
    ([*SIM, "--epochs", "0"], "--epochs"),
    ([*SIM, "--epochs", "1e9"], "--epochs"),
    ([*SIM, "--epochs", "1000000000", "--out", "{fresh}"], "--epochs"),
    ([*SIM, "--epochs", "9223372036854775807", "--out", "{fresh}"], "--epochs"),
    ([*SIM, "--out", "{d}"], "--out"),
    ([*SIM, "--out", "{d}/afile/sim.csv"], "--out"),
    ([*SIM, "--plot", "{fresh}.xyz"], "--plot"),
    ([*SIM, "--eta-m", "-1"], "--eta-m"),
    ([*SIM, "--m0", "nan"], "--m0"),
    ([*FIT, "{d}/missing.csv"], "missing.csv"),
    ([*FIT, "{d}/latin1.csv"], "latin1.csv"),
    ([*FIT, "{d}/array.npy"], "array.npy"),
    ([*FIT, "{d}/garbage.npz"], "garbage.npz"),
    ([*FIT, "{d}/truncated.npz"], "truncated.npz"),
    ([*FIT, "{d}/strings.npz"], "strings.npz"),
    ([*FIT, "{d}/zeit.csv"], "--time-column"),
    ([*FIT, "{d}/no-time.csv"], "--no-time-column"),
    ([*FIT, "{d}/good.csv", "--time-column", "tick"], "--time-column"),
    ([*FIT, "{d}/good.csv", "--no-time-column"], "--no-time-column"),
    ([*FIT, "{d}/good.csv", "--no-time-column", "--time-column", "epoch"], "--time-column"),
    ([*FIT, "{d}/backwards.csv"], "backwards.csv"),
    ([*FIT, "{d}/nan.csv"], "nan.csv"),
    ([*FIT, "{d}/ragged.csv"], "ragged.csv"),
    ([*FIT, "{d}/extra-column.csv"], "h_fit"),
    ([*FIT, "{d}/good.csv", "--objective", "plain"], "--objective"),
    (["theory", "fit", "{d}/good.csv", "--dx2", "0", "--dy2", "0.5"], "--dx2"),
    ([*FIT, "{d}/good.csv", "--plot", "{d}"], "--plot"),
    ([*PRED, "--h0", "0"], "--h0"),
    ([*PRED, "--eta-y", "nan"], "--eta-y"),
    ([*RUN_OUT, "--executor", "bogus"], "--executor"),
    ([*RUN_OUT, "--workers", "0"], "--workers"),
    ([*RUN_OUT, "--executor", "dask", "--scheduler", DEAD], "--scheduler"),
    ([*RUN_OUT, "--executor", "process", "--scheduler", DEAD], "--scheduler"),
    ([*RUN, "--out", "{d}/afile"], "--out"),
    ([*RUN_OUT, "--cache", "{d}/afile"], "--cache"),
    ([*RUN, "--out", "{d}/afile/run"], "--out"),
    ([*RUN_OUT, "--dy2", "inf"], "--dy2"),
    ([*RUN_OUT, "--dx2", "-1"], "--dx2"),
    ([*RUN_OUT, "--epochs", "1000000000"], "--epochs"),
    ([*RUN_OUT, "--units", "10000000"], "--units"),
    ([*RUN_OUT, "--units", "0"], "--units"),
    ([*RUN_OUT, "--arch", "bogus"], "--arch"),
    ([*RUN_OUT, "--layer", "99"], "--layer"),
    ([*RUN_OUT, "--optimizer", "rmsprop"], "--optimizer"),
    ([*RUN_OUT, "--arch", "tanh", "--optimizer", "adam"], "--lr"),
    ([*RUN_OUT, "--lr", "-1"], "--lr"),
    ([*RUN_OUT, "--gain", "0"], "--gain"),
    ([*RUN_OUT, "--device", "tpu"], "--device"),
    ([*RUN_OUT, "--trials", "0"], "--trials"),
    (["predict", "--dataset", "{d}/nan-points.npz", "--out", "{fresh}"], "nan-points.npz"),
    (["predict", "--dataset", "{d}/empty-points.npz", "--out", "{fresh}"], "empty-points.npz"),
    (["predict", "--dataset", "{d}/truncated.npz", "--out", "{fresh}"], "truncated.npz"),
    (["predict", "--dataset", "{d}/missing.npz", "--out", "{fresh}"], "missing.npz"),
    (["predict", "--dataset", "cifar", "--out", "{fresh}"], "--dataset"),
    (["predict", "--dataset", "xor", "--tau", "inf", "--out", "{fresh}"], "--tau"),
    (["predict", "--dataset", "xor", "--eta-ratio", "0", "--out", "{fresh}"], "--eta-ratio"),
    (["predict", "--dataset", "xor", "--out", "{d}/afile"], "--out"),
    (["predict", "--dataset", "xor", "--rates-from", "{d}", "--out", "{fresh}"], "--rates-from"),
    (["predict", "--dataset", "xor", "--rates-from", "{d}/bad-json", "--out", "{fresh}"], "--rates-from"),
    (["predict", "--compare", "{d}/array.npy", "--out", "{fresh}"], "--compare"),
    (["reproduce", "no-such-figure", "--out", "{fresh}"], "no-such-figure"),
    (["reproduce", "fig2", "--profile", "huge", "--out", "{fresh}"], "--profile"),
    (["reproduce", "fig2", "--executor", "threads", "--out", "{fresh}"], "--executor"),
    (["reproduce", "fig2", "--out", "{d}/afile"], "--out"),
]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "afile").write_text("a file, not a directory\n")
    good = "epoch,h,y,w\n" + "".join(f"{t},{1 + 0.01 * t},{0.1 + 0.001 * t},{0.1}\n" for t in range(5))
    (d / "good.csv").write_text(good)
    (d / "zeit.csv").write_text(good.replace("epoch", "Zeit", 1))
    (d / "no-time.csv").write_text("h,y,w\n1,0.1,0.1\n1.1,0.2,0.1\n1.2,0.3,0.1\n")
    (d / "backwards.csv").write_text("epoch,h,y,w\n0,1,0.1,0.1\n2,1.1,0.2,0.1\n1,1.2,0.3,0.1\n")
    (d / "nan.csv").write_text("epoch,h,y,w\n0,1,0.1,0.1\n1,nan,0.2,0.1\n2,1.2,0.3,0.1\n")
    (d / "ragged.csv").write_text("epoch,h,y,w\n0,1,0.1,0.1\n1,1.1,0.2\n2,1.2,0.3,0.1\n")
    (d / "extra-column.csv").write_text(good.replace("w\n", "w,h_fit\n", 1).replace(",0.1\n", ",0.1,1\n"))
    (d / "latin1.csv").write_bytes("epoch,h,y,w\n0,1,0.1,0.1 \xe9\n".encode("latin-1"))
    np.save(d / "array.npy", np.zeros((3, 4)))
    (d / "garbage.npz").write_bytes(b"garbage" * 20)
    np.savez(d / "strings.npz", epoch=np.arange(3), h=np.array(["a", "b", "c"]), y=np.ones(3), w=np.ones(3))
    whole = (d / "strings.npz").read_bytes()
    (d / "truncated.npz").write_bytes(whole[: len(whole) // 2])
    np.savez(d / "nan-points.npz", x=np.array([[0.0, 1.0], [1.0, np.nan]]), y=np.array([0.0, 1.0]))
    np.savez(d / "empty-points.npz", x=np.zeros((0, 2)), y=np.zeros(0))
    (d / "bad-json").mkdir()
    (d / "bad-json" / "summary.json").write_text("{not json")
    return d


def _fill(args, d, fresh):
    return [a.format(d=d, fresh=fresh) for a in args]


@pytest.mark.parametrize(("args", "named"), CORPUS, ids=[" ".join(a[:2] + a[-2:]) for a, _ in CORPUS])
def test_bad_command_line_is_one_clear_error(args, named, bad_files, tmp_path):
    fresh = tmp_path / "fresh"
    result = runner.invoke(app, _fill(args, bad_files, fresh))
    # CliRunner turns an uncaught exception into exit code 1 and keeps it in result.exception.
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert named.format(d=bad_files) in result.output
    assert not list(tmp_path.glob("fresh*")), "a rejected command wrote output"


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 40


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ([*FIT, "{d}/strings.npz"], "strings.npz"),
        ([*RUN_OUT, "--executor", "bogus"], "--executor"),
    ],
)
def test_the_installed_command_prints_no_traceback(args, named, bad_files, tmp_path):
    code = "import sys; from repdyn.cli import main; sys.argv[0] = 'repdyn'; main()"
    proc = subprocess.run([sys.executable, "-c", code, *_fill(args, bad_files, tmp_path / "fresh")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert named.format(d=bad_files) in proc.stderr


# --- failures during a run -------------------------------------------------------------------------------

def test_a_full_disk_is_reported_and_complete_entries_are_kept(tmp_path, monkeypatch):
    from repdyn.sweep import ResultStore

    real_put = ResultStore.put
    calls = []

    def put_until_full(self, key, result, **kwargs):
        calls.append(key)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_put(self, key, result, **kwargs)

    monkeypatch.setattr(ResultStore, "put", put_until_full)
    out = tmp_path / "run"
    result = runner.invoke(app, [*RUN, "--trials", "3", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "disk is full" in result.output and "--cache" in result.output and "Traceback" not in result.output
    monkeypatch.undo()
    assert len(ResultStore(out / "cache")) == 1  # the entry written before the disk filled up


def test_a_run_in_which_a_trial_errored_exits_1_and_keeps_the_others(tmp_path, monkeypatch):
    import _sweep_trials

    import repdyn.experiments._two_point_run as two_point_run

    monkeypatch.setattr(two_point_run, "two_point_trial", _sweep_trials.two_point_failing_on_seed_1)
    out = tmp_path / "run"
    result = runner.invoke(app, [*RUN, "--trials", "3", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "1 of 3 trials did not finish" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert [t["status"] == "error" for t in summary["trials"]] == [False, True, False]
    assert summary["counts"]["error"] == 1

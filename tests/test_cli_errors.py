"""A corpus of bad command lines (tests/_bad_inputs.py): each must exit 2 with one message naming
the option or file, no traceback, and nothing written.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys

import pytest
from _bad_inputs import CORPUS, FIT, RUN, RUN_OUT, fill, make_bad_files
from typer.testing import CliRunner

from repdyn.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    return make_bad_files(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize(("args", "named"), CORPUS, ids=[" ".join(a[:2] + a[-2:]) for a, _ in CORPUS])
def test_bad_command_line_is_one_clear_error(args, named, bad_files, tmp_path):
    fresh = tmp_path / "fresh"
    result = runner.invoke(app, fill(args, bad_files, fresh))
    # CliRunner turns an uncaught exception into exit code 1 and keeps it in result.exception.
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "np.float64" not in result.output  # plain numbers, as the user typed them
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
    proc = subprocess.run([sys.executable, "-c", code, *fill(args, bad_files, tmp_path / "fresh")],
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

    import repdyn.runs._two_point_run as two_point_run

    monkeypatch.setattr(two_point_run, "two_point_trial", _sweep_trials.two_point_failing_on_seed_1)
    out = tmp_path / "run"
    result = runner.invoke(app, [*RUN, "--trials", "3", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "1 of 3 trials did not finish" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert [t["status"] == "error" for t in summary["trials"]] == [False, True, False]
    assert summary["counts"]["error"] == 1


def test_an_unwritable_output_directory_is_named(tmp_path, monkeypatch):
    import repdyn.cli._errors as errors

    # Root may write anywhere, so the missing permission is simulated where it is checked.
    monkeypatch.setattr(errors.os, "access", lambda path, mode: False)
    result = runner.invoke(app, [*RUN, "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert "--out" in result.output and "no permission to write" in result.output
    assert not (tmp_path / "run").exists()


def test_reproduce_exits_1_when_a_trial_errored(tmp_path, monkeypatch):
    import repdyn.experiments as experiments
    from repdyn.experiments import ExperimentOutput

    def errored_run(names, options):
        return {"fig2": ExperimentOutput(summary={}, claims=[], counts={"trials": 4, "converged": 3, "error": 1})}

    monkeypatch.setattr(experiments, "reproduce", errored_run)  # the CLI runs the public name
    result = runner.invoke(app, ["reproduce", "fig2", "--profile", "smoke", "--executor", "local",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "1 of 4 trials did not finish" in result.output

"""Fuzz test of the command line (issue 21): command lines of every sub-command drawn from classes of values.

Each case is a sub-command's valid command line with one or two options
replaced by a value of a class (0, negative, huge, tiny, subnormal, NaN,
infinities, booleans, strings, huge integers, long and unicode paths,
wrong-shaped and degenerate files). It must exit 0 with outputs that pass
their checks, or exit 1 or 2 with one message; never a traceback, a temporary
file left behind, or a run past the time bound. The cases live in
``tests/_cli_fuzz.py``, shared with ``benchmarks/bench_robustness.py``.

In-process through the CLI runner (fast); a few cases as the installed
command in a fresh process. The draws are derandomised so that CI sees the
same cases every run; the benchmark draws fresh ones.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from _cli_fuzz import COMMANDS, TIME_BOUND, make_files, run_line
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

#: Examples per sub-command: about 40 s in all on 2 cores, with every valid training cached after its first run.
EXAMPLES = {"theory simulate": 30, "theory predict": 30, "theory fit": 20, "predict": 30, "run two-point": 16,
            "atlas": 8, "reproduce": 6, "demo": 3, "list": 1}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz-files")
    make_files(d)
    return d


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz-cache")


def _scratch(files, tmp_path_factory):
    """A fresh case directory holding (links to) the fuzzer's files."""
    d = tmp_path_factory.mktemp("case")
    for path in files.iterdir():
        (d / path.name).symlink_to(path, target_is_directory=path.is_dir())
    return d


@st.composite
def replacements(draw, command):
    names = [option.name for option in command.options]
    chosen = draw(st.lists(st.sampled_from(names), min_size=0, max_size=min(2, len(names)), unique=True)) \
        if names else []
    by_name = {option.name: option for option in command.options}
    return {name: draw(st.sampled_from(sorted(by_name[name].classes))) for name in chosen}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_valid_command_line_succeeds(command, files, cache, tmp_path_factory):
    outcome = run_line(command, {}, _scratch(files, tmp_path_factory), cache)
    assert outcome.kind == "ok", outcome.detail


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_drawn_command_lines_follow_the_rule(command, files, cache, tmp_path_factory):
    @settings(max_examples=EXAMPLES[command.name], deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(replaced=replacements(command))
    def check(replaced):
        outcome = run_line(command, replaced, _scratch(files, tmp_path_factory), cache)
        assert outcome.kind != "failure", f"{replaced}: {outcome.detail}"

    check()


@pytest.mark.parametrize(("args", "code"), [
    (["theory", "simulate", "--h0", "nan", "--y0", "0.2", "--eta-h", "0.01", "--eta-y", "0.02"], 2),
    (["predict", "--dataset", "{d}/identical.npz", "--out", "{d}/out"], 2),
    (["theory", "simulate", "--h0", "0.3", "--y0", "0.2", "--eta-h", "0.01", "--eta-y", "0.02", "--epochs", "5",
      "--out", "{d}/dïr-名前/sim.csv"], 0),
])
def test_the_installed_command_follows_the_rule(args, code, files, tmp_path_factory):
    d = _scratch(files, tmp_path_factory)
    script = "import sys; from repdyn.cli import main; sys.argv[0] = 'repdyn'; main()"
    proc = subprocess.run([sys.executable, "-c", script, *(a.format(d=d) for a in args)], capture_output=True,
                          text=True, timeout=TIME_BOUND)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.count("Error:") == (1 if code else 0)

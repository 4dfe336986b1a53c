"""The fuzzer of the command line: command lines drawn from classes of values, and the rule they must follow.

The rule (issue 21): every command either exits 0 with finite outputs that
pass their checks (trajectories in the reachable set, a symmetric finite
prediction, every file a summary lists present), or exits 1 (a run that
failed, results kept) or 2 (bad input) with one message; never a traceback,
never a temporary file left behind, never past a time bound. Shared by
``tests/test_cli_fuzz.py`` and ``benchmarks/bench_robustness.py`` (which
reports the counts).

A case is a command's valid command line with one or two options replaced by
a value of a class (0, negative, huge, tiny, subnormal, NaN, infinities,
booleans, strings, huge integers, long and unicode paths, wrong-shaped and
degenerate files). Trials run locally on tiny networks and share one result
store, so a valid draw trains once and later draws read it back.
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from typer.testing import CliRunner

from repdyn.cli import app

#: Seconds one command may take in the fuzzer (valid draws train networks of a few units for a few epochs).
TIME_BOUND = 60.0

#: Values a user might type where a number belongs, by class.
NUMBERS: dict[str, str] = {
    "zero": "0",
    "negative": "-1.5",
    "huge": "1e300",
    "tiny": "1e-300",
    "subnormal": "5e-324",
    "nan": "nan",
    "inf": "inf",
    "-inf": "-inf",
    "boolean": "true",
    "word": "abc",
    "empty": "",
    "huge integer": "9223372036854775807",
    "beyond float64": "1e999",
    "one": "1",
}
#: Values a user might give where a path belongs, by class ({d}: a scratch directory of the case).
PATHS: dict[str, str] = {
    "long name": "{d}/" + "n" * 300,
    "unicode": "{d}/dïr-名前/ausgabe",
    "nested missing": "{d}/a/b/c",
    "a file": "{d}/a-file",
    "empty": "",
}
#: Files of the wrong shape or meaning, by class (made by :func:`make_files`).
FILES = ("trajectory.csv", "both-forms.npz", "nan.csv", "empty.csv", "garbage.npz", "two-rows.csv",
         "points.npz", "zero-columns.npz", "identical.npz", "huge-points.npz", "one-point.npz", "nan-points.npz",
         "reps.npz", "reps-wrong-rows.npz", "reps-flat.npz", "strings.npz", "matrix.npy", "missing.npz")
#: ``--rates-from`` directories, by class.
RATE_DIRS = ("rates-ok", "rates-bool", "rates-string", "rates-negative", "rates-null", "rates-not-a-list",
             "rates-garbage")


def make_files(d: Path) -> None:
    """Write the fuzzer's files into ``d``: good ones, and one of each wrong shape or meaning."""
    from repdyn.theory import solve

    rng = np.random.default_rng(0)
    t = np.arange(0.0, 300.0, 10.0)
    z = solve([0.3, 0.2, 0.1], t, eta_h=0.01, eta_y=0.02, dx2=1.0, dy2=0.5)
    lines = ["epoch,h,y,w"] + [f"{e:g},{float(a)!r},{float(b)!r},{float(c)!r}" for e, (a, b, c) in zip(t, z, strict=True)]
    (d / "trajectory.csv").write_text("\n".join(lines) + "\n")
    (d / "nan.csv").write_text("\n".join([*lines[:5], "50,nan,0.1,0.1", *lines[6:]]) + "\n")
    (d / "empty.csv").write_text("")
    (d / "two-rows.csv").write_text("\n".join(lines[:3]) + "\n")
    np.savez(d / "both-forms.npz", epoch=t, z=z, h=z[:, 0] * 2, y=z[:, 1], w=z[:, 2])
    (d / "garbage.npz").write_bytes(bytes(range(256)) * 4)
    x, y = rng.normal(size=(12, 3)), rng.normal(size=(12, 1))
    labels = np.arange(12) % 3
    np.savez(d / "points.npz", x=x, y=y, labels=labels)
    np.savez(d / "zero-columns.npz", x=np.zeros((12, 0)), y=y)
    np.savez(d / "identical.npz", x=np.ones((12, 3)), y=y)
    np.savez(d / "huge-points.npz", x=x * 1e30, y=y * 1e30)
    np.savez(d / "one-point.npz", x=x[:1], y=y[:1])
    np.savez(d / "nan-points.npz", x=np.where(x > 1.5, np.nan, x), y=y)
    hidden = np.tanh(x @ rng.normal(size=(3, 5)))
    np.savez(d / "reps.npz", x=x, y=y, labels=labels, hidden=hidden)
    np.savez(d / "reps-wrong-rows.npz", x=x, y=y, labels=labels, hidden=hidden[:7])
    np.savez(d / "reps-flat.npz", x=x, y=y, labels=labels, hidden=hidden.T.ravel())
    np.savez(d / "strings.npz", x=np.array(["a"] * 12), y=y)
    np.save(d / "matrix.npy", np.ones((4, 5)))
    (d / "a-file").write_text("not a directory\n")
    records = {"rates-ok": [{"eta_h": 0.01, "eta_y": 0.02, "quality": "good"}],
               "rates-bool": [{"eta_h": True, "eta_y": 0.02, "quality": "good"}],
               "rates-string": [{"eta_h": "0.01", "eta_y": 0.02, "quality": "good"}],
               "rates-negative": [{"eta_h": -0.01, "eta_y": 0.02, "quality": "good"}],
               "rates-null": [{"eta_h": None, "eta_y": None}],
               "rates-not-a-list": [3]}
    for name, trials in records.items():
        (d / name).mkdir()
        (d / name / "summary.json").write_text(json.dumps({"trials": trials}))
    (d / "rates-garbage").mkdir()
    (d / "rates-garbage" / "summary.json").write_bytes(b"\xff\xfe{not json")


@dataclass(frozen=True)
class Option:
    """An option a command takes: its valid value and the classes of values drawn for it."""

    name: str
    valid: str | None
    classes: dict[str, str]


def _numbers(name: str, valid: str | None) -> Option:
    return Option(name, valid, NUMBERS)


def _files(name: str, valid: str | None, names: tuple[str, ...] = FILES) -> Option:
    return Option(name, valid, {f: "{d}/" + f for f in names})


def _path(name: str, valid: str) -> Option:
    return Option(name, valid, PATHS)


def _words(name: str, valid: str | None, words: tuple[str, ...]) -> Option:
    return Option(name, valid, {w: w for w in words})


@dataclass(frozen=True)
class Command:
    """A sub-command: its fixed words, its options (valid values and classes) and the check of a success."""

    name: str
    words: tuple[str, ...]
    options: tuple[Option, ...]
    check: Callable[[Path, str, list[str]], str | None]
    #: The value of ``--out`` when it is a file rather than a directory; None: a directory.
    out_file: str | None = None

    def line(self, replaced: dict[str, str], d: Path) -> list[str]:
        """The command line with ``replaced`` options (name -> class) drawn from their classes."""
        args = list(self.words)
        for option in self.options:
            value = option.classes[replaced[option.name]] if option.name in replaced else option.valid
            if value is None:
                continue
            value = value.replace("{d}", str(d))
            if option.name.startswith("--"):
                args += [option.name, value]
            else:
                args.append(value)
        return args


# -- checks of a successful command (exit 0); each returns what is wrong, or None --------------------------

def _reachable_csv(text: str, dy2: float) -> str | None:
    from repdyn.theory import reachable

    rows = [line.split(",") for line in text.strip().splitlines()[1:]]
    values = np.array([[float(v) for v in row[1:4]] for row in rows])
    if not np.all(np.isfinite(values)):
        return "a non-finite value in the trajectory"
    if not np.all(reachable(values, dy2=dy2)):
        return "a state outside the reachable set"
    return None


def _option_value(line: list[str], name: str, default: str) -> str:
    return line[line.index(name) + 1] if name in line else default


def _out(d: Path, line: list[str]) -> Path:
    """``--out`` as the command saw it: relative paths (and "", the current directory) from the case directory."""
    return d / _option_value(line, "--out", "")


def _check_simulate(d: Path, output: str, line: list[str]) -> str | None:
    dy2 = float(_option_value(line, "--dy2", "0.5"))
    # On stdout the table is followed by what else was written ("wrote sim.png").
    text = _out(d, line).read_text() if "--out" in line else output[output.index("epoch"):].split("\nwrote")[0]
    return _reachable_csv(text, dy2)


def _json_finite(output: str) -> str | None:
    summary = json.loads(output[output.index("{"):output.rindex("}") + 1])
    numbers = [v for v in summary.values() if isinstance(v, float)]
    return None if all(np.isfinite(numbers)) else f"a non-finite number in {summary}"


def _check_fit(d: Path, output: str, line: list[str]) -> str | None:
    summary = json.loads(output[output.index("{"):output.rindex("}") + 1])
    if not (summary["eta_h"] > 0 and summary["eta_y"] > 0 and np.isfinite([summary["eta_h"], summary["eta_y"]]).all()):
        return f"fitted rates {summary['eta_h']}, {summary['eta_y']}"
    return None


def _listed_files_exist(out: Path, summary_name: str) -> str | None:
    summary = json.loads((out / summary_name).read_text())
    files = summary.get("files", {})
    missing = [name for name in files if not (out / name).exists()]
    return f"{summary_name} lists missing files {missing}" if missing else None


def _check_predict(d: Path, output: str, line: list[str]) -> str | None:
    out = _out(d, line)
    matrix = np.load(out / "predicted.npy")
    if not (np.all(np.isfinite(matrix)) and np.allclose(matrix, matrix.T) and np.all(np.diag(matrix) == 0)):
        return "predicted.npy is not a finite symmetric matrix with a zero diagonal"
    return _listed_files_exist(out, "prediction.json")


def _check_two_point(d: Path, output: str, line: list[str]) -> str | None:
    out = _out(d, line)
    summary = json.loads((out / "summary.json").read_text())
    from repdyn.runs import FAILED_STATUSES

    bad = [r.get("seed") for r in summary["trials"] if r.get("status") in FAILED_STATUSES]
    if bad:
        return f"trials {bad} did not finish, yet the command exited 0"
    return _listed_files_exist(out, "summary.json")


def _check_written(*names: str) -> Callable[[Path, str, list[str]], str | None]:
    def check(d: Path, output: str, line: list[str]) -> str | None:
        out = _out(d, line)
        missing = [n for n in names if not (out / n).is_file()]
        return f"missing outputs {missing}" if missing else None

    return check


def _no_check(d: Path, output: str, line: list[str]) -> str | None:
    return None


_STATE = (_numbers("--h0", "0.3"), _numbers("--y0", "0.2"), _numbers("--eta-h", "0.01"), _numbers("--eta-y", "0.02"),
          _numbers("--dx2", "1"), _numbers("--dy2", "0.5"))
_TINY_NET = ("--units", "16", "--hidden-layers", "1", "--executor", "local", "--cache", "{cache}")

COMMANDS: tuple[Command, ...] = (
    Command("theory simulate", ("theory", "simulate"),
            (*_STATE, _numbers("--w0", None), _numbers("--epochs", "40"), _numbers("--eta-m", None),
             _numbers("--m0", None), Option("--out", None, {**PATHS, "csv": "{d}/sim.csv"}),
             Option("--plot", None, {**PATHS, "png": "{d}/sim.png", "unknown format": "{d}/sim.xyz"})),
            _check_simulate),
    Command("theory predict", ("theory", "predict", "--json"), _STATE, lambda d, o, line: _json_finite(o)),
    Command("theory fit", ("theory", "fit", "--json"),
            (_files("TRAJ", "{d}/trajectory.csv"), _numbers("--dx2", "1"), _numbers("--dy2", "0.5"),
             _words("--objective", None, ("scaled", "paper", "bogus", "")),
             Option("--plot", None, {**PATHS, "png": "{d}/fit.png"})),
            _check_fit),
    Command("predict", ("predict",),
            (_files("--dataset", "xor", ("points.npz", "zero-columns.npz", "identical.npz", "huge-points.npz",
                                          "one-point.npz", "nan-points.npz", "strings.npz", "garbage.npz",
                                          "missing.npz", "reps.npz")),
             _numbers("--eta-ratio", None), _numbers("--tau", None),
             _words("--method", None, ("exp", "npoint", "pairwise", "bogus")),
             _files("--compare", None, ("reps.npz", "reps-wrong-rows.npz", "reps-flat.npz", "points.npz",
                                        "garbage.npz", "missing.npz")),
             _numbers("--permutations", None),
             Option("--rates-from", None, {r: "{d}/" + r for r in RATE_DIRS}),
             _path("--out", "{out}")),
            _check_predict),
    Command("run two-point", ("run", "two-point", *_TINY_NET),
            (_numbers("--epochs", "400"), _numbers("--trials", None), _numbers("--seed", None), _numbers("--lr", None),
             _numbers("--gain", None), _numbers("--dx2", None), _numbers("--dy2", None),
             _words("--layer", None, ("1", "0", "99", "hidden.0", "nope")), _numbers("--workers", None),
             _words("--host", None, ("127.0.0.1", "0.0.0.0", "bad host!", "")), _path("--out", "{out}")),
            _check_two_point),
    Command("atlas", ("atlas", "--dataset", "xor", "--model", "xor 2 layers", "--cache", "{cache}"),
            (_numbers("--epochs", "300"), _numbers("--pairs", "2"), _numbers("--lr", None), _numbers("--gain", None),
             _numbers("--batch-size", None), _numbers("--record-every", None), _numbers("--seed", None),
             _files("--input-distance", None, ("matrix.npy", "missing.npz", "garbage.npz")),
             _path("--out", "{out}")),
            _check_written("summary.json", "atlas.nc")),
    Command("reproduce", ("reproduce", "--executor", "local", "--cache", "{cache}"),
            (_words("NAMES", "fig6", ("fig6", "nope", "", "fig6 fig6")), _words("--profile", "smoke",
             ("smoke", "quick-ish", "")), _numbers("--workers", None),
             _words("--host", None, ("127.0.0.1", "bad host!")), _path("--out", "{out}")),
            _check_written("report.md")),
    Command("demo", ("demo",), (_path("--out", "{out}"),), _check_written("summary.json", "demo.png")),
    Command("list", ("list",), (), _no_check),
)


@dataclass(frozen=True)
class Outcome:
    """What one command line did: ``kind`` is ok (exit 0, checked), failed (exit 1), refused (exit 2) or failure."""

    kind: str
    exit_code: int | None
    seconds: float
    detail: str


class _TimeBound(BaseException):
    """Raised by the timer: a BaseException, so that no ``except Exception`` in the code under test swallows it."""


@contextlib.contextmanager
def _time_bound(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise _TimeBound

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_line(command: Command, replaced: dict[str, str], d: Path, cache: Path) -> Outcome:
    """Run ``command`` in-process with ``replaced`` options (name -> class) in the scratch directory ``d``."""
    line = [a.replace("{cache}", str(cache)).replace("{out}", str(d / "out")) for a in command.line(replaced, d)]
    start = time.perf_counter()
    try:
        # In the scratch directory: an empty path ("") is the current directory.
        with _time_bound(TIME_BOUND), contextlib.chdir(d):
            result = CliRunner().invoke(app, line)
    except _TimeBound:
        return Outcome("failure", None, TIME_BOUND, f"past the time bound of {TIME_BOUND:g} s: {line}")
    seconds = time.perf_counter() - start
    output = result.output
    shown = f"{line}\n{output[-2000:]}"
    if isinstance(result.exception, _TimeBound):
        return Outcome("failure", None, seconds, f"past the time bound of {TIME_BOUND:g} s: {shown}")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        text = "".join(traceback.format_exception(result.exception))
        return Outcome("failure", result.exit_code, seconds, f"traceback: {shown}\n{text[-3000:]}")
    if "Traceback" in output:
        return Outcome("failure", result.exit_code, seconds, f"a traceback printed: {shown}")
    leftovers = [p.name for p in d.rglob("*.tmp*")]
    if leftovers:
        return Outcome("failure", result.exit_code, seconds, f"temporary files left: {leftovers}: {shown}")
    if result.exit_code == 0:
        try:
            problem = command.check(d, output, line)
        except (OSError, ValueError, KeyError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        return Outcome("ok" if problem is None else "failure", 0, seconds, f"{problem or ''}: {shown}")
    if result.exit_code not in (1, 2):
        return Outcome("failure", result.exit_code, seconds, f"exit status {result.exit_code}: {shown}")
    errors = output.count("Error:")
    if result.exit_code == 2 and errors != 1:
        return Outcome("failure", 2, seconds, f"{errors} error messages, not one: {shown}")
    if result.exit_code == 1 and errors < 1:
        return Outcome("failure", 1, seconds, f"exit 1 without a message: {shown}")
    return Outcome("failed" if result.exit_code == 1 else "refused", result.exit_code, seconds, shown)

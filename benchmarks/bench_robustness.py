"""Robustness of the command line and the sweep store, as a new user would try them.

Run: ``python benchmarks/bench_robustness.py`` (about two minutes on 2 cores).

Reports six figures, each with its goal:

1. **Bad inputs** (the corpus of ``tests/_bad_inputs.py``, every one run
   through the installed command in a fresh process): how many end in one clear
   error (exit 2, the option or file named, no traceback; goal: all), how many
   print a traceback (goal 0), and how many are accepted (exit 0; goal 0).
2. **Silent wrong answers**: inputs that once gave a wrong result with exit 0
   (a time column under another name, a fit that does not describe the data,
   a run whose trials errored, averaging unfit rates). Each must now give the
   right answer, or a non-zero exit, or a warning that says what is wrong
   (goal: 0 silent wrong answers).
3. **Faults injected into sweeps**: a driver killed with SIGKILL mid-sweep, a
   corrupt entry, a full disk, a worker process killed mid-trial, a second
   sweep writing the same store. Each counts as "nothing lost" when a rerun
   (or the sweep itself) ends with every config's correct result and no
   trial was computed more often than the fault forces (goal: all).

4. **The public theory API, fuzzed** (the cases of ``tests/_theory_fuzz.py``):
   every public function called with each argument in turn replaced by a
   value of each class (0, negative, huge, tiny, subnormal, NaN, infinities,
   booleans, strings, None, wrong shapes, objects), then 500 seeded random
   pairs of replacements. Counted: valid results (finite, trajectories in the
   reachable set), refusals (ValueError/TypeError naming a replaced argument)
   and other failures (goal 0).
5. **The solver over many decades** (the strategy of
   ``tests/test_solver_properties.py``, 16 decades of every argument): drawn
   problems solved within the stated tolerance of a stiff reference, refused
   beyond the documented stiffness, or a ``SolverError`` where moving z0 by
   1e-12 of itself moves the reference by more than the tolerance; anything
   else is a failure (goal 0).

6. **The command line, fuzzed** (the cases of ``tests/_cli_fuzz.py``): every
   option of every sub-command in turn replaced by each value of its classes
   (0, negative, huge, tiny, subnormal, NaN, infinities, booleans, strings,
   huge integers, long and unicode paths, wrong-shaped and degenerate files),
   then 300 seeded random pairs of replacements, run in-process. Counted:
   exit 0 with outputs that pass their checks, exit 1 with a message (a run
   that failed, results kept), exit 2 with one message, and failures
   (tracebacks, several messages, temporary files left, wrong outputs, past
   the time bound; goal 0), with the slowest command's seconds.

Run ``python benchmarks/bench_robustness.py --fuzz-only`` for sections 4 to 6
alone (a few minutes).

Not a test: it prints numbers and PASS/FAIL per goal, and never fails.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"
sys.path.insert(0, str(TESTS))

from _bad_inputs import CORPUS, fill, make_bad_files  # noqa: E402
from _sweep_trials import WalkConfig, walk  # noqa: E402

CLI = "import sys; from repdyn.cli import main; sys.argv[0] = 'repdyn'; main()"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}


def repdyn(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI, *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=cwd, env=ENV)


# -- 1. bad inputs ------------------------------------------------------------------------------------------

def bad_inputs(work: Path) -> dict[str, int]:
    (work / "bad").mkdir()
    d = make_bad_files(work / "bad")

    def one(i_case):
        i, (args, named) = i_case
        case = work / f"case-{i}"
        case.mkdir()
        fresh = case / "fresh"
        proc = repdyn(*fill(args, d, fresh))
        text = proc.stdout + proc.stderr
        if "Traceback" in text:
            return "traceback", args
        if proc.returncode == 0:
            return "accepted", args
        if proc.returncode == 2 and named.format(d=d) in text and not list(case.glob("fresh*")):
            return "clear", args
        return "unclear", args

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(one, enumerate(CORPUS)))
    counts = {k: 0 for k in ("clear", "traceback", "accepted", "unclear")}
    for kind, args in outcomes:
        counts[kind] += 1
        if kind != "clear":
            print(f"    {kind}: repdyn {' '.join(args)}")
    counts["tried"] = len(CORPUS)
    return counts


# -- 2. silent wrong answers --------------------------------------------------------------------------------

def silent_wrong_answers(work: Path) -> list[tuple[str, bool, str]]:
    """(case, silent wrong answer?, what happened) per case."""
    cases = []
    sim = work / "s.csv"
    repdyn("theory", "simulate", "--h0", "1", "--y0", "0.1", "--eta-h", "0.01", "--eta-y", "0.01",
           "--epochs", "2000", "--out", sim)
    lines = sim.read_text().splitlines()
    every10 = [lines[0]] + [ln for ln in lines[1:] if int(ln.split(",")[0]) % 10 == 0]
    for header in ("Epoch", "time", "step", "\ufeffepoch", "Zeit"):
        path = work / f"every10-{len(cases)}.csv"
        path.write_text("\n".join([every10[0].replace("epoch", header, 1), *every10[1:]]) + "\n",
                        encoding="utf-8")
        proc = repdyn("theory", "fit", path, "--dx2", "1", "--dy2", "0.5", "--json")
        if proc.returncode == 0:
            eta = json.loads(proc.stdout)["eta_h"]
            wrong = abs(eta / 0.01 - 1) > 0.01
            cases.append((f"fit, time column {header!r}", wrong, f"exit 0, eta_h {eta:.4g} (true 0.01)"))
        else:
            cases.append((f"fit, time column {header!r}", False, f"exit {proc.returncode}: "
                          f"{proc.stderr.strip().splitlines()[-1][:90]}"))
    no_time = work / "no-time.csv"
    no_time.write_text("\n".join(",".join(ln.split(",")[1:]) for ln in every10) + "\n")
    proc = repdyn("theory", "fit", no_time, "--dx2", "1", "--dy2", "0.5")
    cases.append(("fit, no time column", proc.returncode == 0, f"exit {proc.returncode}"))

    constant = work / "constant.csv"
    constant.write_text("epoch,h,y,w\n" + "".join(f"{t},1,0.1,0.1\n" for t in range(50)))
    for name, path, dy2 in (("constant trajectory", constant, "0.5"), ("wrong --dy2", sim, "5")):
        proc = repdyn("theory", "fit", path, "--dx2", "1", "--dy2", dy2)
        told = "unfit" in proc.stdout and "warning" in proc.stderr
        cases.append((f"fit, {name}", proc.returncode == 0 and not told,
                      f"exit {proc.returncode}, quality {'unfit' if 'unfit' in proc.stdout else '?'}"))

    run_dir = work / "errored-run"
    code = (
        "import sys, _sweep_trials; import repdyn.runs._two_point_run as m; "
        "m.two_point_trial = _sweep_trials.two_point_failing_on_seed_1; "
        "from repdyn.cli import main; sys.argv[0] = 'repdyn'; main()"
    )
    proc = subprocess.run([sys.executable, "-c", code, "run", "two-point", "--units", "4", "--hidden-layers", "1",
                           "--epochs", "5", "--executor", "local", "--trials", "3", "--out", str(run_dir)],
                          capture_output=True, text=True, env=ENV, timeout=600)
    cases.append(("run two-point, one trial errored", proc.returncode == 0, f"exit {proc.returncode}"))

    proc = repdyn("atlas", "--model", "xor 2 layers", "--dataset", "xor", "--epochs", "30", "--lr", "50",
                  "--out", work / "atlas-diverged")
    cases.append(("atlas whose training diverged", proc.returncode == 0, f"exit {proc.returncode}"))

    tokens = np.random.default_rng(0).integers(0, 9, size=(12, 3))
    np.savez(work / "tokens.npz", x=tokens, y=np.repeat(["a", "b"], 6))
    proc = repdyn("atlas", "--dataset", work / "tokens.npz", "--epochs", "2", "--out", work / "atlas-tokens")
    cases.append(("atlas of token ids without an input distance", proc.returncode == 0, f"exit {proc.returncode}"))

    rates = work / "rates"
    rates.mkdir()
    (rates / "summary.json").write_text(json.dumps({"trials": [
        {"eta_h": 0.1, "eta_y": 0.05, "quality": "good"}, {"eta_h": 5.0, "eta_y": 0.001, "quality": "unfit"}]}))
    proc = repdyn("predict", "--dataset", "xor", "--method", "pairwise", "--rates-from", rates,
                  "--out", work / "pred")
    ratio = json.loads((work / "pred" / "prediction.json").read_text())["eta_ratio"] if proc.returncode == 0 else None
    cases.append(("predict --rates-from with an unfit trial", ratio is not None and abs(ratio - 2) > 1e-9,
                  f"exit {proc.returncode}, eta ratio {ratio} (good trials alone: 2)"))
    return cases


# -- 3. faults injected into sweeps --------------------------------------------------------------------------

def _expected(configs):
    """The results computed directly, without logging (a log line counts a sweep's computation)."""
    import dataclasses

    return [walk(dataclasses.replace(c, log=None))["final"] for c in configs]


def _log_count(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


SWEEP = """
import sys
from _sweep_trials import WalkConfig, walk
from repdyn.sweep import run_sweep
store, log, n, sleep, executor = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
run_sweep(walk, [WalkConfig(seed=i, sleep=sleep, log=log) for i in range(n)], store=store, executor=executor)
"""


def _sweep_process(store: Path, log: Path, n: int, sleep: float, executor: str = "local") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SWEEP, str(store), str(log), str(n), str(sleep), executor],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def faults(work: Path) -> list[tuple[str, bool, str]]:
    import warnings

    from repdyn.sweep import ResultStore, run_sweep

    out = []
    n = 8

    # SIGKILL of the driver half-way, then a rerun.
    store, log = work / "kill", work / "kill.log"
    proc = _sweep_process(store, log, n, 0.3)
    while _log_count(log) < 4 and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = len(ResultStore(store))
    configs = [WalkConfig(seed=i, sleep=0.3, log=str(log)) for i in range(n)]
    before = _log_count(log)
    results = run_sweep(walk, configs, store=store, executor="local")
    rerun = _log_count(log) - before
    ok = [r["final"] for r in results] == _expected(configs) and rerun == n - kept
    out.append(("driver killed (SIGKILL) mid-sweep", ok, f"{kept} entries kept, rerun computed {rerun}"))

    # A corrupt entry.
    store, log = work / "corrupt", work / "corrupt.log"
    configs = [WalkConfig(seed=i, log=str(log)) for i in range(n)]
    run_sweep(walk, configs, store=store, executor="local")
    victim = ResultStore(store).path(ResultStore(store).keys()[3])
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    before = _log_count(log)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = run_sweep(walk, configs, store=store, executor="local")
    ok = [r["final"] for r in results] == _expected(configs) and _log_count(log) - before == 1
    out.append(("corrupt entry", ok, f"recomputed {_log_count(log) - before}, {len(caught)} warning(s)"))

    # A full disk after 3 entries.
    store, log = work / "full", work / "full.log"
    configs = [WalkConfig(seed=i, log=str(log)) for i in range(n)]
    real_put = ResultStore.put
    written = []

    def put_until_full(self, key, result, **kwargs):
        if len(written) >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(key)
        real_put(self, key, result, **kwargs)

    ResultStore.put = put_until_full
    try:
        run_sweep(walk, configs, store=store, executor="local")
        raised = False
    except OSError:
        raised = True
    finally:
        ResultStore.put = real_put
    kept = len(ResultStore(store))
    results = run_sweep(walk, configs, store=store, executor="local")
    ok = raised and kept == 3 and [r["final"] for r in results] == _expected(configs)
    out.append(("full disk (ENOSPC) while writing", ok, f"error raised {raised}, {kept} entries kept, rerun complete"))

    # A worker process killed mid-trial (process pool).
    store, log = work / "worker", work / "worker.log"
    configs = [WalkConfig(seed=i, log=str(log)) for i in range(4)]
    dying = WalkConfig(seed=9, mode="sigkill_once", marker=str(work / "marker"), log=str(log))
    results = run_sweep(walk, [*configs, dying], store=store, executor="process", workers=2)
    ok = all(r.get("status") not in ("error", "failed") for r in results) and len(ResultStore(store)) == 5
    out.append(("worker process killed mid-trial", ok, "retried; every result stored"))

    # A second sweep on the same store at the same time.
    store, log = work / "concurrent", work / "concurrent.log"
    procs = [_sweep_process(store, log, n, 0.3) for _ in range(2)]
    errs = [p.communicate(timeout=600)[1] for p in procs]
    computed = _log_count(log)
    ok = all(p.returncode == 0 for p in procs) and computed == n and len(ResultStore(store)) == n
    out.append(("two sweeps writing one store", ok, f"{computed} computations for {n} trials"
                + (f"; stderr: {errs}" if not ok else "")))
    return out


# -- 4. the public theory API, fuzzed ----------------------------------------------------------------------

def theory_fuzz(pairs: int = 500) -> dict[str, int]:
    import random
    import warnings

    from _theory_fuzz import BAD_VALUES, TARGETS, run_case

    cases = [(target, {name: value}) for target in TARGETS for name in target.valid for value in BAD_VALUES]
    rng = random.Random(21)
    for _ in range(pairs):
        target = rng.choice(TARGETS)
        names = rng.sample(sorted(target.valid), min(2, len(target.valid)))
        cases.append((target, {name: rng.choice(sorted(BAD_VALUES)) for name in names}))
    counts = {"drawn": len(cases), "valid": 0, "refused": 0, "failure": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for target, bad in cases:
            outcome = run_case(target, bad)
            counts[outcome.kind] += 1
            if outcome.kind == "failure":
                print(f"    failure: {outcome.detail}")
    return counts


# -- 5. the solver over many decades -------------------------------------------------------------------------

def solver_decades(examples: int = 1000) -> dict[str, int]:
    import warnings

    import numpy as np
    from hypothesis import HealthCheck, given, settings
    from test_solver_properties import TOL, RTOL, problems, scaled_error, stiff_reference

    from repdyn.theory import SolverError, reachable, solve

    counts = {"drawn": 0, "valid": 0, "refused": 0, "undetermined": 0, "no reference": 0, "failure": 0}

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(problems())
    def draw(problem):
        z0, t, args = problem
        counts["drawn"] += 1
        try:
            z = solve(z0, t, **args, rtol=RTOL)
        except ValueError as exc:
            counts["refused" if "stiffness" in str(exc) or "coupling" in str(exc) else "failure"] += 1
            return
        except SolverError as exc:
            ref = stiff_reference(z0, t, **args, method="LSODA")
            moved = stiff_reference(z0 * (1 + 1e-12), t, **args, method="LSODA")
            warranted = ref is not None and moved is not None and scaled_error(moved, ref, args["dy2"]) > TOL
            counts["undetermined" if warranted else "failure"] += 1
            if not warranted:
                print(f"    failure: SolverError for z0={z0.tolist()}, {args}: {exc}")
            return
        ref = stiff_reference(z0, t, **args, method="LSODA")
        if ref is None:
            counts["no reference"] += 1
            return
        ok = (np.all(np.isfinite(z)) and np.all(reachable(z, dy2=args["dy2"]))
              and scaled_error(z, ref, args["dy2"]) <= TOL)
        counts["valid" if ok else "failure"] += 1
        if not ok:
            print(f"    failure: z0={z0.tolist()}, {args}, span {t[-1] - t[0]:.3g}: "
                  f"error {scaled_error(z, ref, args['dy2']):.2g}")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        draw()
    return counts


# -- 6. the command line, fuzzed ---------------------------------------------------------------------------

def cli_fuzz(work: Path, pairs: int = 300) -> dict[str, float]:
    import random
    import warnings

    from _cli_fuzz import COMMANDS, make_files, run_line

    files = work / "cli-files"
    files.mkdir()
    make_files(files)
    cache = work / "cli-cache"
    cases = [(command, {option.name: cls}) for command in COMMANDS for option in command.options
             for cls in option.classes]
    rng = random.Random(21)
    for _ in range(pairs):
        command = rng.choice([c for c in COMMANDS if len(c.options) >= 2])
        options = rng.sample(command.options, 2)
        cases.append((command, {option.name: rng.choice(sorted(option.classes)) for option in options}))
    counts: dict[str, float] = {"drawn": len(cases), "ok": 0, "failed": 0, "refused": 0, "failure": 0,
                                "slowest": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, (command, replaced) in enumerate(cases):
            case = work / f"cli-case-{i}"
            case.mkdir()
            for path in files.iterdir():
                (case / path.name).symlink_to(path, target_is_directory=path.is_dir())
            outcome = run_line(command, replaced, case, cache)
            counts[outcome.kind] += 1
            counts["slowest"] = max(counts["slowest"], outcome.seconds)
            if outcome.kind == "failure":
                print(f"    failure: {command.name} {replaced}: {outcome.detail[:1500]}")
    return counts


def fuzz_sections() -> None:
    start = time.perf_counter()
    print("4. the public theory API, fuzzed (each argument replaced by each class, then 500 random pairs)")
    counts = theory_fuzz()
    print(f"   drawn {counts['drawn']}: valid results {counts['valid']}, refused naming the argument "
          f"{counts['refused']}, other failures {counts['failure']}; goal 0 failures: "
          f"{'PASS' if counts['failure'] == 0 else 'FAIL'} ({time.perf_counter() - start:.0f} s)")
    start = time.perf_counter()
    print("5. solve over 16 decades of every argument, against a stiff reference (LSODA, rtol 1e-13)")
    counts = solver_decades()
    print(f"   drawn {counts['drawn']}: within the stated tolerance {counts['valid']}, refused beyond "
          f"MAX_STIFFNESS {counts['refused']}, SolverError where the inputs' last digits decide "
          f"{counts['undetermined']}, no reference {counts['no reference']}, other failures "
          f"{counts['failure']}; goal 0 failures: {'PASS' if counts['failure'] == 0 else 'FAIL'} "
          f"({time.perf_counter() - start:.0f} s)")
    start = time.perf_counter()
    print("6. the command line, fuzzed (each option replaced by each of its classes, then 300 random pairs)")
    with tempfile.TemporaryDirectory() as tmp:
        counts = cli_fuzz(Path(tmp))
    print(f"   drawn {counts['drawn']:.0f}: exit 0 with checked outputs {counts['ok']:.0f}, exit 1 with a message "
          f"{counts['failed']:.0f}, exit 2 with one message {counts['refused']:.0f}, failures {counts['failure']:.0f}; "
          f"slowest command {counts['slowest']:.1f} s; goal 0 failures: "
          f"{'PASS' if counts['failure'] == 0 else 'FAIL'} ({time.perf_counter() - start:.0f} s)")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fuzz-only", action="store_true", help="run sections 4 to 6 only")
    if parser.parse_args().fuzz_only:
        fuzz_sections()
        return
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("1. bad command lines, each run through the installed command in a fresh process")
        counts = bad_inputs(work)
        print(f"   tried {counts['tried']}: clear errors {counts['clear']}, tracebacks {counts['traceback']}, "
              f"accepted {counts['accepted']}, unclear {counts['unclear']}")
        print(f"   goal: all clear, 0 tracebacks: {'PASS' if counts['clear'] == counts['tried'] else 'FAIL'}")

        print("2. inputs that once gave a silent wrong answer")
        cases = silent_wrong_answers(work)
        for name, wrong, what in cases:
            print(f"   {'SILENT WRONG' if wrong else 'ok':12s} {name}: {what}")
        silent = sum(wrong for _, wrong, _ in cases)
        print(f"   silent wrong answers {silent} of {len(cases)}; goal 0: {'PASS' if silent == 0 else 'FAIL'}")

        print("3. faults injected into sweeps")
        results = faults(work)
        for name, ok, what in results:
            print(f"   {'nothing lost' if ok else 'LOST':12s} {name}: {what}")
        good = sum(ok for _, ok, _ in results)
        print(f"   {good} of {len(results)} with nothing lost; goal all: "
              f"{'PASS' if good == len(results) else 'FAIL'}")
    fuzz_sections()
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()

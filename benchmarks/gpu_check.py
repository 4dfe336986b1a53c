"""The prepared device check of the batched engine (issue 24): equality, throughput, fig5 at the paper scale.

On a GPU machine, from the repository root (planned for under 8 minutes on one H200)::

    PYTHONUNBUFFERED=1 PYTHONPATH=src python3 benchmarks/gpu_check.py --device cuda --out "$OUT"

(the device tool brings back what ``$OUT`` holds; keep it in
``benchmarks/results/gpu-check/``, where the script writes by default).

fig5 writes its data with h5netcdf, which the device machine's image lacks;
carry its wheel (pure Python) as the device tool's README says (here:
``pip download --no-deps --only-binary=:all: h5netcdf -d .whl``; there:
``python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
&& export PYTHONPATH=src:/tmp/site``). Without it fig5 still trains, and the
check records where it stopped.

The same script at a tiny scale on the CPU (``tests/test_gpu_check.py`` runs
it, so the script is known to work end to end)::

    python benchmarks/gpu_check.py --device cpu --scale tiny --out /tmp/gpu-check

It writes ``gpu_check.json`` and ``gpu_check.md`` to ``--out`` (with fig5's
``summary.json``, figure and log beside them; fig5's other files and its
result store stay in ``--work``):

1. **device**: name, memory, the bandwidth :func:`repdyn.fast.memory_bandwidth` measures.
2. **equality**: a few float64 trials of every architecture of Tables 1 and 2
   (and every variant trained with Adam) at a small width, batched on the
   device by every engine that can train them, against the per-trial engine
   on this machine's CPU (computed here, in worker processes): the largest
   error of any recorded value or final weight relative to that variable's
   largest value; it passes at 1e-9.
3. **throughput**: the plan of ``repdyn reproduce --profile paper --device
   cuda --dry-run`` (:func:`repdyn.runs.plan_trials` per experiment, as
   :func:`repdyn.experiments.plan` makes it), calibrated on this device:
   every architecture's batches, each timed for a few epochs at its
   group's smallest and largest size, seconds per epoch against the floor
   of its weights read and written once at the measured bandwidth, the
   memory the model predicts against the peak a GPU allocated, and the
   extrapolation to fig5 and to every experiment of the paper profile
   (each trial at its full epochs, so early-stopping trials count in full:
   an upper bound), with the fits' CPU time beside it.
4. **fig5**: ``repdyn reproduce fig5 --profile paper --device cuda`` in a
   subprocess, with what is left of ``--budget``: wall time, whether it
   finished, trials stored, its claims.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: Largest error relative to a variable's scale at which batched and per-trial runs agree.
TOLERANCE = 1e-9
#: Seconds kept free at the end of the budget (writing the report).
MARGIN = 15.0
#: Where the report goes unless told: beside the other benchmark results.
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "gpu-check"


@dataclasses.dataclass(frozen=True)
class Scale:
    """How large each phase runs.

    ``units``, ``hidden_layers``, ``epochs``, ``trials``: the equality trials.
    ``shrink``: None for the paper's networks in the throughput phase, else
    (width cap, depth cap, epochs). ``measure_epochs``: epochs timed per batch.
    ``profile``: fig5's. ``budget``: seconds for the whole check.
    """

    units: int
    hidden_layers: int
    epochs: int
    trials: int
    shrink: tuple[int, int, int] | None
    measure_epochs: int
    profile: str
    budget: float


SCALES = {
    # Equality at 300 epochs: on a GPU a small batch costs its launches, a few ms per epoch.
    "paper": Scale(units=16, hidden_layers=3, epochs=300, trials=3, shrink=None, measure_epochs=10,
                   profile="paper", budget=460.0),
    "tiny": Scale(units=6, hidden_layers=2, epochs=60, trials=2, shrink=(8, 2, 30), measure_epochs=3,
                  profile="smoke", budget=900.0),
}  # fmt: skip


# --- 2. equality -------------------------------------------------------------------------------


def equality_cases(scale: Scale) -> list[tuple[str, Any]]:
    """(label, small spec) for every registered architecture, and every variant with Adam."""
    from repdyn.nets import ARCHITECTURES

    def small(spec: Any, **changes: Any) -> Any:
        return spec.replace(units=min(spec.units, scale.units), hidden_layers=min(spec.hidden_layers,
                            scale.hidden_layers), channels=3, kernel_size=3, epochs=scale.epochs, **changes)  # fmt: skip

    cases = [(name, small(spec)) for name, spec in ARCHITECTURES.items()]
    default = ARCHITECTURES["default"]
    for variant in ("mlp", "convolution", "skip", "dropout"):
        cases.append((f"{variant}, adam", small(default, variant=variant, optimizer="adam", lr=2e-3)))
    return cases


def equality_pairs(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(2024)
    xs = torch.randn(count, 2, 3, generator=generator, dtype=torch.float64)
    ys = torch.randn(count, 2, 2, generator=generator, dtype=torch.float64) * 0.5
    return xs, ys


def reference_run(job: tuple[dict[str, Any], int, np.ndarray, np.ndarray]) -> dict[str, Any]:
    """One trial on the per-trial engine choose_trainer picks on the CPU, in float64 (a worker's task)."""
    from repdyn.fast import choose_trainer, limit_threads, train_pair_fast
    from repdyn.nets import ArchSpec, build_network, make_optimizer
    from repdyn.track import track_pair

    limit_threads(1)
    spec_fields, seed, x, y = job
    spec = ArchSpec.from_dict(spec_fields)
    network = build_network(spec, 3, 2, seed=seed, dtype=torch.float64)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    if choose_trainer(spec) == "fast":
        run = train_pair_fast(network, "all", x, y, lr=spec.lr, epochs=spec.epochs)
    else:
        run = track_pair(network, "all", x, y, epochs=spec.epochs, seed=seed,
                         optimizer=lambda params: make_optimizer(spec.optimizer, params, lr=spec.lr))  # fmt: skip
    return {"status": run.status, "h": run.h, "y": run.y, "w": run.w, "loss": run.loss,
            "weights": [p.detach().numpy().copy() for p in network.parameters()]}  # fmt: skip


def worst_error(run: Any, network: Any, reference: dict[str, Any]) -> float:
    """Largest error of a recorded value or final weight, relative to its variable's largest value."""
    worst = 0.0
    for name in ("h", "y", "w", "loss"):
        got, want = np.asarray(getattr(run, name)), reference[name]
        if not np.array_equal(np.isnan(got), np.isnan(want)):
            return math.inf
        finite = np.isfinite(want)
        scale = np.max(np.abs(want[finite]), initial=0.0)
        if scale > 0:
            worst = max(worst, float(np.max(np.abs(got[finite] - want[finite]))) / scale)
    for param, want in zip(network.parameters(), reference["weights"], strict=True):
        scale = float(np.max(np.abs(want)))
        if scale > 0:
            worst = max(worst, float(np.max(np.abs(param.detach().cpu().numpy() - want))) / scale)
    return worst


def equality(scale: Scale, device: torch.device, workers: int) -> list[dict[str, Any]]:
    from repdyn.fast import choose_trainer, train_pairs_batched
    from repdyn.nets import build_network

    cases = equality_cases(scale)
    seeds = list(range(scale.trials))
    xs, ys = equality_pairs(scale.trials)
    jobs = [(spec.to_dict(), seed, xs[i].numpy(), ys[i].numpy()) for _, spec in cases for i, seed in enumerate(seeds)]
    # spawn: the workers start clean whatever the parent did with CUDA.
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        references = pool.map(reference_run, jobs)
    rows = []
    for k, (label, spec) in enumerate(cases):
        trainers = [choose_trainer(spec, device=device, batched=True)]
        if trainers[0] == "batched":
            trainers.append("functional")  # the other engine trains plain MLPs too
        for trainer in trainers:
            networks = [build_network(spec, 3, 2, seed=seed, dtype=torch.float64) for seed in seeds]
            start = time.perf_counter()
            runs = train_pairs_batched(networks, xs, ys, layers="all", lr=spec.lr, epochs=spec.epochs,
                                       optimizer=spec.optimizer, seeds=seeds, device=device, trainer=trainer)  # fmt: skip
            seconds = time.perf_counter() - start
            wanted = references[k * len(seeds) : (k + 1) * len(seeds)]
            error = max(worst_error(run, net, ref) for run, net, ref in zip(runs, networks, wanted, strict=True))
            same_status = all(run.status == ref["status"] for run, ref in zip(runs, wanted, strict=True))
            rows.append({"case": label, "variant": spec.variant, "optimizer": spec.optimizer, "trainer": trainer,
                         "trials": len(seeds), "epochs": spec.epochs, "worst_relative_error": error,
                         "statuses": [run.status for run in runs], "seconds": seconds,
                         "passed": bool(error <= TOLERANCE and same_status)})  # fmt: skip
    return rows


# --- 3. throughput -----------------------------------------------------------------------------


def on_device(config: Any, device: torch.device, shrink: tuple[int, int, int] | None) -> Any:
    """A two-point ``config`` trained on ``device``, its network shrunk at the tiny scale."""
    changes: dict[str, Any] = {"device": device.type}
    if shrink is not None:
        units, layers, epochs = shrink
        arch = config.arch
        changes["arch"] = arch.replace(units=min(arch.units, units), hidden_layers=min(arch.hidden_layers, layers),
                                       epochs=min(arch.epochs, epochs))  # fmt: skip
        changes["layer"] = None  # the reference layer of the shrunk depth
    return dataclasses.replace(config, **changes)


def throughput(scale: Scale, device: torch.device, bandwidth: float, workers: int) -> dict[str, Any]:
    """The planner of ``repdyn reproduce --dry-run`` with a calibration on this device: the paper
    profile's batches per experiment, each architecture timed at its smallest and largest batch."""
    from repdyn.experiments import EXPERIMENTS, experiment_trials
    from repdyn.runs import TwoPointConfig, plan_trials

    def planned(names: list[str]) -> dict[str, Any]:
        plans = {}
        for name, (configs, _, _) in experiment_trials(names, "paper").items():
            trials = [on_device(c, device, scale.shrink) if isinstance(c, TwoPointConfig) else c for c in configs]
            plans[name] = plan_trials(trials, device=device.type, batched=True, bandwidth=bandwidth,
                                      calibrate_epochs=scale.measure_epochs, workers=workers)  # fmt: skip
        return plans

    everything = planned(list(EXPERIMENTS))
    fig5 = planned(["fig5"])["fig5"]
    rows, seen = [], set()
    for plan in [fig5, *everything.values()]:
        for b in plan.batches:
            key = (b.architecture, b.optimizer, b.units, b.hidden_layers, b.trials)
            if key in seen:
                continue
            seen.add(key)
            rows.append({"architecture": b.architecture, "variant": b.variant, "optimizer": b.optimizer,
                         "units": b.units, "hidden_layers": b.hidden_layers, "trials": b.trials,
                         "trainer": b.trainer, "epoch_ms": 1e3 * b.epoch_seconds,
                         "trial_epoch_us": 1e6 * b.epoch_seconds / b.trials, "floor_ms": 1e3 * b.floor_epoch_seconds,
                         "floor_fraction": b.floor_epoch_seconds / b.epoch_seconds, "predicted_bytes": b.bytes,
                         "peak_bytes": b.peak_bytes, "measured_size": b.peak_bytes is not None or
                         device.type == "cpu"})  # fmt: skip

    def totals(plans: list[Any]) -> dict[str, float]:
        batches = [b for p in plans for b in p.batches]
        return {"trials": sum(b.trials for b in batches), "batches": len(batches),
                "training_seconds": sum(p.training_seconds for p in plans),
                "floor_seconds": sum(b.epochs * b.floor_epoch_seconds for b in batches),
                "fits": sum(p.fits for p in plans), "fit_cpu_seconds": sum(p.fit_seconds for p in plans)}  # fmt: skip

    return {
        "architectures": rows,
        "fig5": totals([fig5]),
        "paper_two_point": totals(list(everything.values())),
        "experiments": {name: {"trials": p.trials, "batches": len(p.batches), "training_seconds": p.training_seconds,
                               "cpu_seconds": p.cpu_seconds, "one_by_one": p.one_by_one}
                        for name, p in everything.items()},
        "paper_datasets": {"trials": sum(p.one_by_one for p in everything.values()),
                           "cpu_model_seconds": sum(p.one_by_one_seconds for p in everything.values())},
        "cpu_cores": os.cpu_count(),
        "workers": workers,
    }  # fmt: skip


# --- 4. fig5 -----------------------------------------------------------------------------------


def fig5(scale: Scale, device: torch.device, seconds: float, work: Path, out: Path) -> dict[str, Any]:
    """``repdyn reproduce fig5`` in a subprocess, stopped after ``seconds``."""
    from repdyn.sweep import ResultStore

    target, cache = work / "fig5", work / "cache"
    command = [sys.executable, "-c", "from repdyn.cli import main; main()", "reproduce", "fig5",
               "--profile", scale.profile, "--device", device.type, "--out", str(target), "--cache", str(cache)]  # fmt: skip
    record: dict[str, Any] = {"command": "repdyn " + " ".join(command[3:]), "budget_seconds": seconds}
    if seconds < 30:
        record.update(ran=False, reason=f"only {seconds:.0f} s of the budget left")
        return record
    log = out / "fig5_log.txt"
    start = time.perf_counter()
    with log.open("w") as stream:
        process = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT, env=os.environ.copy())
        try:
            code = process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = None
    record.update(ran=True, wall_seconds=time.perf_counter() - start, exit_code=code, finished=code == 0,
                  stored_trials=len(ResultStore(cache)) if cache.exists() else 0)  # fmt: skip
    text = log.read_text()
    record["claims"] = [line for line in text.splitlines() if line.startswith("[fig5]")]
    record["log_tail"] = text[-2000:]
    summary = target / "fig5" / "summary.json" if (target / "fig5").exists() else target / "summary.json"
    for found in target.rglob("summary.json"):
        summary = found
    if summary.exists():
        shutil.copy(summary, out / "fig5_summary.json")
        record["counts"] = json.loads(summary.read_text()).get("counts")
    for figure in target.rglob("fig5_final_distance.png"):
        shutil.copy(figure, out / figure.name)
    return record


# --- the report --------------------------------------------------------------------------------


def describe_device(device: torch.device, bandwidth: float) -> dict[str, Any]:
    info: dict[str, Any] = {"device": str(device), "torch": torch.__version__, "python": platform.python_version(),
                            "cpu_cores": os.cpu_count(), "bandwidth_bytes_per_second": bandwidth}  # fmt: skip
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        info.update(name=properties.name, memory_bytes=properties.total_memory)
    else:
        info["name"] = platform.processor() or platform.machine()
    return info


def markdown(report: dict[str, Any]) -> str:
    device = report["device"]
    lines = [f"# GPU check of the batched engine ({device['name']}, {device['device']})", "",
             f"torch {device['torch']}; measured bandwidth {device['bandwidth_bytes_per_second'] / 1e9:.0f} GB/s "
             f"(copy, bytes read + written); scale {report['scale']}; total {report['wall_seconds']:.0f} s.", "",
             f"## Equality in float64 (tolerance {TOLERANCE:g} of each variable's scale)", "",
             "| case | trainer | trials x epochs | worst relative error | passed |", "|---|---|---|---|---|"]  # fmt: skip
    for row in report["equality"]:
        lines.append(f"| {row['case']} | {row['trainer']} | {row['trials']} x {row['epochs']} | "
                     f"{row['worst_relative_error']:.2e} | {'yes' if row['passed'] else 'NO'} |")  # fmt: skip
    t = report["throughput"]
    lines += ["", "## Throughput per architecture (batches as run_batched forms them)", "",
              "| architecture | optimizer | units x layers | trials | trainer | ms / epoch | us / trial-epoch | "
              "floor ms / epoch | floor / measured | predicted MiB | peak MiB |", "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in t["architectures"]:
        fraction = "" if row["floor_fraction"] is None else f"{row['floor_fraction']:.2f}"
        peak = "" if row["peak_bytes"] is None else f"{row['peak_bytes'] / 2**20:.0f}"
        lines.append(f"| {row['architecture']} | {row['optimizer']} | {row['units']} x {row['hidden_layers']} | "
                     f"{row['trials']} | {row['trainer']} | {row['epoch_ms']:.2f} | {row['trial_epoch_us']:.1f} | "
                     f"{row['floor_ms']:.3f} | {fraction} | {row['predicted_bytes'] / 2**20:.0f} | {peak} |")  # fmt: skip
    lines += ["", "## Extrapolation (every trial at its full epochs: an upper bound for early-stopping trials)", "",
              "| what | trials | batches | training min | floor min | fits | fit CPU min |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for label, key in (("fig5", "fig5"), ("paper profile, two-point trials", "paper_two_point")):
        row = t[key]
        lines.append(f"| {label} | {row['trials']} | {row['batches']} | {row['training_seconds'] / 60:.1f} | "
                     f"{row['floor_seconds'] / 60:.2f} | {row['fits']} | {row['fit_cpu_seconds'] / 60:.0f} |")  # fmt: skip
    lines += ["", "Per experiment (its trials not computed by an earlier one; CPU: fits and one-by-one trials by the "
              f"single-core CPU model over {t['workers']} workers):", "",
              "| experiment | trials | batches | one by one | device min | CPU min |", "|---|---|---|---|---|---|"]  # fmt: skip
    for name, row in t["experiments"].items():
        lines.append(f"| {name} | {row['trials']} | {row['batches']} | {row['one_by_one']} | "
                     f"{row['training_seconds'] / 60:.2f} | {row['cpu_seconds'] / 60:.1f} |")  # fmt: skip
    d = t["paper_datasets"]
    lines += ["", f"Fits run on the CPU ({t['cpu_cores']} cores here: about "
              f"{t['paper_two_point']['fit_cpu_seconds'] / max(t['cpu_cores'] or 1, 1) / 60:.1f} min of wall time for "
              f"the paper profile). The {d['trials']} data-set trials (XOR, context, MNIST; XOR's seeds train as one "
              f"batch each on a GPU) are not timed here: {d['cpu_model_seconds'] / 60:.0f} single-core minutes by "
              "the CPU model.", "",
              "## fig5", ""]  # fmt: skip
    f = report["fig5"]
    if not f.get("ran"):
        lines.append(f"not run: {f.get('reason')}")
    else:
        state = "finished" if f["finished"] else f"stopped (exit code {f['exit_code']})"
        lines.append(f"`{f['command']}`: {state} after {f['wall_seconds']:.0f} s of a {f['budget_seconds']:.0f} s "
                     f"budget; {f['stored_trials']} trials stored; counts {f.get('counts')}.")  # fmt: skip
        lines += ["", *[f"- {claim}" for claim in f["claims"]]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--scale", default=None, choices=tuple(SCALES), help="default: paper on cuda, tiny on cpu")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"where the report goes (a few files; default {DEFAULT_OUT})")
    parser.add_argument("--work", type=Path, default=None, help="fig5's outputs and store (default: a temporary folder)")
    parser.add_argument("--budget", type=float, default=None, help="seconds for the whole check")
    parser.add_argument("--workers", type=int, default=None, help="processes of the CPU references")
    args = parser.parse_args()
    start = time.perf_counter()
    scale = SCALES[args.scale or ("paper" if args.device == "cuda" else "tiny")]
    budget = scale.budget if args.budget is None else args.budget
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no GPU here; use --device cpu for the tiny check")
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gpu-check-")) if args.work is None else args.work
    work.mkdir(parents=True, exist_ok=True)
    from repdyn.fast import memory_bandwidth

    bandwidth = memory_bandwidth(device)
    report: dict[str, Any] = {"scale": dataclasses.asdict(scale) | {"name": args.scale or scale.profile},
                              "device": describe_device(device, bandwidth)}  # fmt: skip
    phases: dict[str, float] = {}
    mark = time.perf_counter()
    workers = args.workers or max(1, min(16, os.cpu_count() or 1))
    report["equality"] = equality(scale, device, workers)
    phases["equality"], mark = time.perf_counter() - mark, time.perf_counter()
    print(f"equality: {sum(r['passed'] for r in report['equality'])} of {len(report['equality'])} passed "
          f"({phases['equality']:.0f} s)", flush=True)  # fmt: skip
    report["throughput"] = throughput(scale, device, bandwidth, workers)
    phases["throughput"], mark = time.perf_counter() - mark, time.perf_counter()
    print(f"throughput: {len(report['throughput']['architectures'])} batches timed ({phases['throughput']:.0f} s)",
          flush=True)  # fmt: skip
    left = budget - (time.perf_counter() - start) - MARGIN
    report["fig5"] = fig5(scale, device, left, work, args.out)
    phases["fig5"] = time.perf_counter() - mark
    report["phase_seconds"] = phases
    report["wall_seconds"] = time.perf_counter() - start
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))
    (args.out / "gpu_check.md").write_text(markdown(report))
    print(markdown(report), flush=True)


if __name__ == "__main__":
    main()

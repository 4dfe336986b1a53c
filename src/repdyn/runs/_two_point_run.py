"""Many two-point trials of one or more architectures: sweep, summarise, draw."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from repdyn.nets import ArchSpec
from repdyn.runs._estimates import once
from repdyn.runs._execution import Execution
from repdyn.runs._outputs import RunOutput
from repdyn.runs._plots import paper_style
from repdyn.runs._records import failed, status_counts
from repdyn.runs._run_data import trial_quality
from repdyn.runs._two_point import TwoPointConfig, two_point_trial

#: Per-trial fields of ``summary.json`` (the trial's config adds ``arch`` and ``seed``).
SUMMARY_FIELDS = (
    "status", "seconds", "eta_h", "eta_y", "eta_m", "h0", "h_final", "h_inf", "a_low", "final_loss",
    "diverged_epoch", "fit_success",
)


def run_trials(configs: Sequence[TwoPointConfig], options: Execution) -> list[dict[str, Any]]:
    """Run (or load from the cache) every trial; results in config order.

    On a GPU (or with ``options.batch_trials``) trials of one architecture
    with a fast path train together as one batched computation (see
    :mod:`repdyn.runs._batched`); the others run one by one.
    """
    from repdyn.runs._batched import batching_wanted, run_batched

    if batching_wanted(options):
        return run_batched(configs, options, fallback=sweep_trials)
    return sweep_trials(configs, options)


def sweep_trials(configs: Sequence[TwoPointConfig], options: Execution) -> list[dict[str, Any]]:
    """Run (or load from the cache) every trial one by one with ``run_sweep``; config order."""
    return options.sweep(two_point_trial, configs)


def run_two_point(
    configs: Sequence[TwoPointConfig], options: Execution, *, stem: str = "trials"
) -> RunOutput:
    """Run (or load from the cache) two-point trials and write what ``repdyn run two-point`` writes.

    Parameters
    ----------
    configs : sequence of TwoPointConfig
        The trials, in the order of the table and the figure.
    options : Execution
        Where to write (``options.out``), the result store (``options.cache``)
        and how to run.
    stem : str, default "trials"
        Name of the data files: ``<stem>.nc`` and ``<stem>.csv``.

    Returns
    -------
    RunOutput
        ``summary`` (also written to ``summary.json``: per-trial records and the
        files written), ``figures`` (the dynamics of every trial)
        and status ``counts``. :func:`repdyn.load_run` reads ``options.out`` back.
    """
    from repdyn.runs._outputs import retire_index, write_json
    from repdyn.runs._run_data import write_trial_data

    configs = list(configs)
    if not configs:
        raise ValueError("configs is empty; pass at least one TwoPointConfig")
    results = run_trials(configs, options)
    retire_index(options.out / "summary.json")
    files = write_trial_data(options.out, results, configs, stem)
    figures = draw_dynamics(seed_groups(configs, results), options.out, "dynamics")
    summary = {
        "experiment": "two-point",
        # One model (as `repdyn run two-point` runs): its settings; else each one's.
        **model_settings(configs),
        "counts": status_counts(results),
        "trials": [trial_summary(c, r) for c, r in zip(configs, results)],
        "files": [str(p.relative_to(options.out)) for p in files + figures],
    }
    write_json(options.out / "summary.json", summary)
    return RunOutput(summary=summary, figures=figures, counts=summary["counts"])


def trial_summary(config: TwoPointConfig, result: dict[str, Any]) -> dict[str, Any]:
    """The JSON record of one trial: identity, rates, R^2 per variable, distances, status."""
    record: dict[str, Any] = {"arch": config.name, "seed": config.seed, "dx2": config.dx2, "dy2": config.dy2,
                              "layer": config.layer, "measure": config.measure}
    if failed(result):
        record.update(status=result["status"], error=result.get("error", ""))
        return record
    record.update({k: result.get(k) for k in SUMMARY_FIELDS})
    record["r2"] = {v: result.get(f"r2_{v}") for v in ("h", "y", "w", "loss")}
    record["quality"] = trial_quality(result, config.fit)
    if config.kernel_every is not None:
        # The theory with the measured rates and no fit, beside the fitted one.
        record["kernel_every"] = config.kernel_every
        record["r2_zero"] = {v: result.get(f"r2_zero_{v}") for v in ("h", "y", "w")}
        record["h_inf_kernel"] = result.get("h_inf_kernel")
        record["zero_fit_message"] = result.get("zero_fit_message")
    return record


def seed_groups(configs: Sequence[TwoPointConfig],
                results: Sequence[dict[str, Any]]) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """``(seed, result)`` pairs grouped by model name, in first-seen order (for figures)."""
    groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for config, result in zip(configs, results):
        groups.setdefault(config.name, []).append((config.seed, result))
    return groups


def model_settings(configs: Sequence[TwoPointConfig]) -> dict[str, Any]:
    """What ``summary.json`` says of the models: one architecture's settings (``arch``), another
    model's source and training (``model``), or each one's by name (``archs``)."""

    def settings(config: TwoPointConfig) -> dict[str, Any]:
        if isinstance(config.arch, ArchSpec):
            return config.arch.to_dict()
        source = config.arch
        return {"kind": source.kind, "name": source.name, "sha256": source.sha256, "gain": source.gain,
                "training": config.trained_with.describe()}

    if len({c.arch for c in configs}) == 1:
        return {"arch" if isinstance(configs[0].arch, ArchSpec) else "model": settings(configs[0])}
    return {"archs": {c.name: settings(c) for c in configs}}


#: Most seeds named one by one in a row's legend; more are named as a range.
LEGEND_SEEDS = 8


def shown_text(shown: int, total: int, drawable: int) -> str:
    """What a row of a dynamics figure says about its trials: how many are drawn and why not all."""
    if shown == total:
        return f"{total} trial{'s' if total != 1 else ''}"
    text = f"{shown} of {total} trials shown"
    if drawable < total:
        text += f" ({total - drawable} without measurements)"
    return text


@paper_style()
def draw_dynamics(groups: dict[str, list[tuple[int, dict[str, Any]]]], out: Path, stem: str, *,
                  max_trials: int | None = None, panels: Sequence[str] = ("h", "y", "w", "loss"),
                  title: str | None = None) -> list[Path]:
    """One row per group (architecture), one column per panel; network solid, theory dashed.

    Every trial with measurements is drawn (the first ``max_trials`` if
    given), one colour per seed, named in the row's legend; the row's title
    says how many trials it shows when that is not all of them.
    """
    from repdyn.runs._outputs import save_figure
    from repdyn.runs._plots import dynamics_row, figure_grid

    fig, axes = figure_grid(len(groups), len(panels), height=2.2)
    for row, (name, trials) in zip(axes, groups.items()):
        drawable = [(seed, r) for seed, r in trials if "epochs" in r]
        shown = drawable if max_trials is None else drawable[:max_trials]
        for i, (seed, result) in enumerate(shown):
            dynamics_row(row, result, color=f"C{i % 10}", label=f"seed {seed}", panels=panels)
        if not shown:
            row[0].text(0.5, 0.5, "no finished trial", ha="center", va="center", transform=row[0].transAxes)
        row[0].set_title(f"{name}: {shown_text(len(shown), len(trials), len(drawable))}", loc="left")
        if 0 < len(shown) <= LEGEND_SEEDS:
            row[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
        elif shown:
            seeds = [seed for seed, _ in shown]
            row[-1].text(1.04, 1.0, f"seeds {min(seeds)}-{max(seeds)}", transform=row[-1].transAxes,
                         va="top")
    fig.tight_layout()
    # Above the top row (tight_layout leaves no room for it; the saved bbox grows to fit).
    fig.suptitle(title or "network (solid) against fitted theory (dashed)",
                 y=1.0 + 0.15 / fig.get_figheight())
    return save_figure(fig, out, stem)


def seconds_per_epoch(spec: ArchSpec) -> float:
    """Rough single-core seconds per epoch of a two-point run (for run-time estimates).

    Measured on 2 shared CPU cores: about 45 us per hidden layer of overhead
    plus 2 ns per weight; convolutions and Adam (no fast path) cost about 4x and 2x.
    """
    per_layer = 45e-6 + 2e-9 * spec.units**2
    factor = 4.0 if spec.variant == "convolution" else (2.0 if spec.optimizer == "adam" else 1.0)
    return factor * spec.hidden_layers * per_layer


#: Rough seconds of one fit of the theory to one layer.
FIT_SECONDS = 3.0


#: Rough single-core seconds per parameter and epoch of a two-point run with
#: autograd (a model without a fast path): forward, backward and step of two
#: points, about the cost of the paper's networks without the fast path.
SECONDS_PER_PARAMETER_EPOCH = 4e-9
#: Rough single-core seconds of autograd's fixed cost per epoch.
SECONDS_PER_EPOCH_OVERHEAD = 2e-4
#: Share of a run's training time that measuring its kernel rates adds
#: (``kernel_every``; 16 % at 25 on the default network, benchmarks/bench_kernel_rates.py).
KERNEL_COST = 0.25


def estimate_trial_seconds(config: TwoPointConfig) -> float:
    """Rough single-core seconds of one trial: training plus its fits (0 if the estimate under way counted it)."""
    fits = fit_seconds(config)
    if isinstance(config.arch, ArchSpec) and config.kernel_every is None:
        return once(config, config.arch.epochs * seconds_per_epoch(config.arch) + fits)
    if config.kernel_every is not None:
        # Only autograd measures kernels; the records cost at most 25 % more (issue 22's bound).
        fits += KERNEL_COST * config.trained_with.epochs * (
            SECONDS_PER_EPOCH_OVERHEAD + SECONDS_PER_PARAMETER_EPOCH * model_parameters(config))
    per_epoch = SECONDS_PER_EPOCH_OVERHEAD + SECONDS_PER_PARAMETER_EPOCH * model_parameters(config)
    return once(config, config.trained_with.epochs * per_epoch + fits)


def fit_count(config: TwoPointConfig) -> int:
    """Fits of the theory one trial runs (on the CPU): one per tracked layer, the output too with ``all_layers``."""
    if not config.fit:
        return 0
    return len(config.hidden_layers) + 1 if config.all_layers else 1


def fit_seconds(config: TwoPointConfig) -> float:
    """Rough single-core seconds of a trial's fits."""
    return FIT_SECONDS * fit_count(config)


def model_parameters(config: TwoPointConfig) -> float:
    """Parameters of the trial's network (built once on the CPU for a model that is no architecture)."""
    if isinstance(config.arch, ArchSpec):
        spec = config.arch
        width = max(spec.units, spec.channels * spec.kernel_size if spec.variant == "convolution" else 0)
        return spec.hidden_layers * float(width) ** 2 + width * (config.in_dim + config.out_dim + 1)
    model = config.arch.probe((config.in_dim,), config.out_dim)
    return float(sum(p.numel() for p in model.parameters()))


#: Bytes held per epoch of a trial: the recorded h, y, w and loss, the result's
#: arrays and the fitted theory's, their copies on the way to the driver and the
#: store, and the fit's working arrays. Measured: ``repdyn run two-point`` (2
#: hidden layers of 8 units) peaked 0.47 kB higher per added epoch, outputs
#: included; 1 kB leaves room.
BYTES_PER_EPOCH = 1000.0
#: Bytes per additional tracked layer and epoch (``all_layers``): its recorded
#: distance, its copy in the result and the per-layer fit's working arrays.
BYTES_PER_LAYER_EPOCH = 100.0
#: Bytes per network parameter: float32 weights and gradients, the optimiser's
#: state (two moments for Adam), and the copies a fast path makes, rounded up.
BYTES_PER_PARAMETER = 32.0


def estimate_trial_bytes(config: TwoPointConfig) -> float:
    """Rough upper estimate of the memory one trial needs (bytes), to reject impossible runs up front."""
    epochs = config.trained_with.epochs + 1
    layers = len(config.hidden_layers) if config.all_layers else 1
    return (epochs * (BYTES_PER_EPOCH + BYTES_PER_LAYER_EPOCH * layers)
            + BYTES_PER_PARAMETER * model_parameters(config))



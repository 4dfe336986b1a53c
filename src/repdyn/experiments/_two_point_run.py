"""Many two-point trials of one or more architectures: sweep, summarise, draw."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from repdyn.experiments._registry import RunOptions
from repdyn.experiments._two_point import TwoPointConfig, two_point_trial

#: Per-trial fields of ``summary.json`` (the trial's config adds ``arch`` and ``seed``).
SUMMARY_FIELDS = (
    "status", "seconds", "eta_h", "eta_y", "eta_m", "h0", "h_final", "h_inf", "final_loss",
    "diverged_epoch", "fit_success",
)


def run_trials(configs: Sequence[TwoPointConfig], options: RunOptions) -> list[dict[str, Any]]:
    """Run (or load from the cache) every trial; results in config order."""
    from repdyn.sweep import run_sweep

    return run_sweep(
        two_point_trial,
        list(configs),
        store=options.cache,
        executor=options.executor,
        workers=options.workers,
        scheduler=options.scheduler,
        progress=options.progress,
    )


def trial_summary(config: TwoPointConfig, result: dict[str, Any]) -> dict[str, Any]:
    """The JSON record of one trial: identity, rates, R^2 per variable, distances, status."""
    record: dict[str, Any] = {"arch": config.arch.name, "seed": config.seed, "dx2": config.dx2, "dy2": config.dy2}
    if result.get("status") in ("error", "failed"):
        record.update(status=result["status"], error=result.get("error", ""))
        return record
    record.update({k: result.get(k) for k in SUMMARY_FIELDS})
    record["r2"] = {v: result.get(f"r2_{v}") for v in ("h", "y", "w", "loss")}
    return record


def status_counts(results: Sequence[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {"trials": len(results)}
    for r in results:
        status = str(r.get("status"))
        counts[status] = counts.get(status, 0) + 1
    return counts


def draw_dynamics(groups: dict[str, list[dict[str, Any]]], out: Path, stem: str, *, max_trials: int = 3) -> list[Path]:
    """One row per group (architecture): h, y, w, loss; network solid, theory dashed."""
    from repdyn.experiments._outputs import save_figure
    from repdyn.experiments._plots import dynamics_row, figure_grid

    fig, axes = figure_grid(len(groups), 4)
    for row, (name, results) in zip(axes, groups.items()):
        shown = [r for r in results if "epochs" in r][:max_trials]
        for i, result in enumerate(shown):
            dynamics_row(row, result, color=f"C{i}")
        row[0].set_ylabel(name, fontsize=9)
    fig.suptitle("network (solid) against fitted theory (dashed)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out, stem)

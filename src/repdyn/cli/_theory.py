"""``repdyn theory ...``: solve, fit and predict with the effective theory.

Also home of ``repdyn demo``, the built-in main job for now: a rich and a lazy
trajectory simulated, fitted back from noisy copies, drawn and summarised.

Heavy imports (scipy, matplotlib) happen inside the commands so that
``repdyn --help`` stays instant.
"""

from __future__ import annotations

import json
import pathlib
from typing import Annotated, Any

import numpy as np
import typer

from repdyn.runs import paper_style, retire_index, write_figure, write_json, write_text
from repdyn.cli import _errors as check
from repdyn.cli._errors import fail as _fail
from repdyn.cli._trajectory import IGNORED, VARIABLES, read_trajectory

app = typer.Typer(
    help="Solve, fit and predict with the effective theory (no torch needed).", no_args_is_help=True
)

# Options shared by several commands.
H0Option = Annotated[float, typer.Option(help="Initial squared representational distance h (> 0).")]
Y0Option = Annotated[float, typer.Option(help="Initial squared prediction distance y (>= 0).")]
EtaHOption = Annotated[float, typer.Option(help="Effective learning rate of the encoder (> 0).")]
EtaYOption = Annotated[float, typer.Option(help="Effective learning rate of the decoder (> 0).")]
Dx2Option = Annotated[float, typer.Option(help="Squared input distance ||x1 - x2||^2 (> 0).")]
Dy2Option = Annotated[float, typer.Option(help="Squared target distance ||y1 - y2||^2 (>= 0).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
_COLUMNS = VARIABLES
#: Rough bytes per simulated epoch: the solver's output and dense steps, the
#: columns and their CSV text (about 100 characters a row, held as a list of
#: lines and then joined). Measured: the peak resident size grew by 0.3 kB per
#: row from 100,000 to 400,000 epochs; 1 kB leaves room for the solver's steps.
_SIMULATE_BYTES_PER_EPOCH = 1000.0


def _state_options(h0: float, y0: float, w0: float | None, eta_h: float, eta_y: float, dx2: float,
                   dy2: float) -> None:
    """Check the theory's inputs under their option names (shared by simulate and predict)."""
    check.number("--h0", h0, above=0)
    check.number("--y0", y0, at_least=0)
    check.number("--w0", w0)
    check.number("--eta-h", eta_h, above=0)
    check.number("--eta-y", eta_y, above=0)
    check.number("--dx2", dx2, above=0)
    check.number("--dy2", dy2, at_least=0)
    if w0 is not None and abs(y0 - w0) > np.sqrt(dy2 * y0) * (1 + 1e-6) + 1e-12 * max(y0, h0):
        _fail(f"--w0 {check.plain(w0)} is not reachable from --y0 {check.plain(y0)} with --dy2 {check.plain(dy2)}: "
              f"|y0 - w0| = |dy . dyhat| must be <= sqrt(dy2 * y0) = {float(np.sqrt(dy2 * y0)):.6g}; "
              "give a --w0 in that band (or leave it out: w0 = y0)")


@app.command()
def simulate(
    h0: H0Option,
    y0: Y0Option,
    eta_h: EtaHOption,
    eta_y: EtaYOption,
    w0: Annotated[
        float | None,
        typer.Option(
            help="Initial alignment w = y - dy.dyhat (default: y0, dyhat orthogonal to dy)."
        ),
    ] = None,
    dx2: Dx2Option = 1.0,
    dy2: Dy2Option = 0.5,
    epochs: Annotated[
        int, typer.Option(min=1, help="Number of epochs (rows 0..N are written).")
    ] = 6000,
    eta_m: Annotated[
        float | None, typer.Option(help="Output-mean rate; adds a loss column (default: 0).")
    ] = None,
    m0: Annotated[
        float | None,
        typer.Option(help="Initial mean-output error ||ybar - m||^2; adds a loss column."),
    ] = None,
    out: Annotated[
        pathlib.Path | None, typer.Option(help="CSV file to write (default: print to stdout).")
    ] = None,
    plot: Annotated[
        pathlib.Path | None, typer.Option(help="Also draw h, y, w (and loss) into this image file.")
    ] = None,
) -> None:
    """Integrate the 3-variable system and write epoch,h,y,w[,loss] as CSV."""
    from repdyn.theory import loss_curve, solve

    _state_options(h0, y0, w0, eta_h, eta_y, dx2, dy2)
    check.number("--eta-m", eta_m, at_least=0)
    check.number("--m0", m0, at_least=0)
    check.memory((epochs + 1) * _SIMULATE_BYTES_PER_EPOCH, f"--epochs {epochs}", "lower --epochs")
    check.output_file("--out", out)
    _plot_file(plot)
    z0 = np.array([h0, y0, y0 if w0 is None else w0])
    t = np.arange(epochs + 1, dtype=np.float64)
    try:
        z = solve(z0, t, eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2)
        loss = None
        if eta_m is not None or m0 is not None:
            loss = loss_curve(z, t, eta_m=eta_m or 0.0, dy2=dy2, m0=m0 or 0.0)
    except ValueError as exc:
        _fail(str(exc))
    columns = {"epoch": t, "h": z[:, 0], "y": z[:, 1], "w": z[:, 2]}
    if loss is not None:
        columns["loss"] = loss
    text = _to_csv(columns)
    if out is None:
        typer.echo(text, nl=False)
    else:
        write_text(out, text)
        typer.echo(f"wrote {len(t)} epochs to {out}")
    if plot is not None:
        _plot_trajectories(plot, t, z, None, loss, None, title="theory trajectory")
        typer.echo(f"wrote {plot}")


@app.command("fit")
def fit_command(
    traj: Annotated[
        pathlib.Path,
        typer.Argument(
            help="CSV (columns epoch,h,y,w[,loss]) or .npz (epoch or t; h, y, w or z; [loss]): what theory "
            "simulate writes, or PairTracking.to_frame() / PairsTracking.to_frame() saved with pandas' to_csv "
            "(its index column too). Column names in any case; the time column may be called epoch, t, time or "
            f"step; {', '.join(IGNORED)} are ignored."
        ),
    ],
    dx2: Dx2Option,
    dy2: Dy2Option,
    time_column: Annotated[
        str | None,
        typer.Option(help="Name of the time column (default: the one named epoch, t, time or step)."),
    ] = None,
    no_time_column: Annotated[
        bool,
        typer.Option(
            "--no-time-column", help="The file has no time column: its rows are epochs 0, 1, 2, ..."
        ),
    ] = False,
    layer: Annotated[
        str | None,
        typer.Option(help="The layer to fit, in a file with a layer column of several layers (as to_frame() writes)."),
    ] = None,
    pair: Annotated[
        int | None,
        typer.Option(help="The pair to fit, in a file with a pair column of several pairs (PairsTracking.to_frame())."),
    ] = None,
    objective: Annotated[
        str,
        typer.Option(
            help="scaled (each variable's residual divided by its spread; default) or paper (the "
            "paper's plain sum of squares, Eq. 49)."
        ),
    ] = "scaled",
    as_json: JsonOption = False,
    plot: Annotated[
        pathlib.Path | None,
        typer.Option(help="Draw data (solid) against fit (dashed) into this file."),
    ] = None,
) -> None:
    """Fit eta_h, eta_y (and eta_m if a loss is given) to an observed trajectory.

    Prints the fitted rates, R^2 per variable, the fit's quality (good, poor or
    unfit: R^2 below 0.9 is poor, below 0 or undefined unfit) and the predicted
    final distance h_inf. Exits with status 1 if the fit did not converge or
    does not describe the data (unfit).
    """
    from repdyn.theory import OBJECTIVES, POOR_R2, final_distance, fit

    check.number("--dx2", dx2, above=0)
    check.number("--dy2", dy2, at_least=0)
    if objective not in OBJECTIVES:
        _fail(f"--objective must be one of {', '.join(OBJECTIVES)}; got {objective!r}")
    if time_column is not None and no_time_column:
        _fail("give either --time-column or --no-time-column, not both")
    _plot_file(plot)
    trajectory = read_trajectory(traj, time_column=time_column, no_time_column=no_time_column, layer=layer,
                                 pair=pair)
    t, observed, loss = trajectory.t, trajectory.z, trajectory.loss
    try:
        result = fit(observed, t, dx2=dx2, dy2=dy2, loss=loss, objective=objective)
    except ValueError as exc:
        _fail(f"TRAJ {traj}: {exc}")
    limits = final_distance(result.z0[0], result.z0[1], eta_h=result.eta_h, eta_y=result.eta_y, dx2=dx2, dy2=dy2)
    summary = result.to_dict()
    summary.update(
        a_low=float(limits.a_low), a_high=float(limits.a_high), regime=str(limits.regime)
    )
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(_format_fit(summary))
    if plot is not None:
        _plot_trajectories(
            plot,
            t,
            observed,
            result.predicted,
            loss,
            result.predicted_loss,
            title=f"fit to {traj.name}",
        )
        if not as_json:
            typer.echo(f"wrote {plot}")
    if result.quality != "good":
        typer.echo(
            f"warning: fit quality {result.quality}: the theory misses the data (an R^2 of h, y or w "
            f"is below {POOR_R2:g}{' or undefined' if result.quality == 'unfit' else ''}); check "
            "--dx2 and --dy2 against the data, and do not use these rates as a description of them",
            err=True,
        )
    if not result.success:
        typer.echo(f"warning: the fit did not converge: {result.message}", err=True)
    if not result.success or result.quality == "unfit":
        why = "did not converge" if not result.success else "is unfit"
        typer.echo(f"Error: the fit to {traj} {why}; the rates above do not describe it", err=True)
        raise typer.Exit(check.EXIT_FAILED)


@app.command()
def predict(
    h0: H0Option,
    y0: Y0Option,
    eta_h: EtaHOption,
    eta_y: EtaYOption,
    dx2: Dx2Option = 1.0,
    dy2: Dy2Option = 0.5,
    as_json: JsonOption = False,
) -> None:
    """Predict the final squared representational distance h_inf and the regime."""
    from repdyn.theory import final_distance

    _state_options(h0, y0, None, eta_h, eta_y, dx2, dy2)
    try:
        fd = final_distance(h0, y0, eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2)
    except ValueError as exc:
        _fail(str(exc))
    summary = {
        "h_inf": float(fd.h_inf),
        "a_low": float(fd.a_low),
        "a_high": float(fd.a_high),
        "regime": str(fd.regime),
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(
            f"h_inf  = {summary['h_inf']:.6g}\nA_low  = {summary['a_low']:.6g}  (rich limit)\n"
            f"A_high = {summary['a_high']:.6g}  (lazy limit)\nregime = {summary['regime']}"
        )


# The demo's two regimes: small initial weights (plateau, then a drop to the
# data-set limit A_low) and large ones (immediate decay, h barely moves).
_DEMO_CASES = {
    "rich": {"z0": (1e-3, 1e-6, 1e-6), "eta_h": 0.004, "eta_y": 0.004},
    "lazy": {"z0": (8.0, 2.0, 1.6), "eta_h": 2e-4, "eta_y": 2e-4},
}
_DEMO_DX2, _DEMO_DY2, _DEMO_EPOCHS, _DEMO_NOISE = 1.0, 0.5, 6000, 0.02


def demo(out: Annotated[str, typer.Option(help="Output directory.")] = "results/demo") -> None:
    """Theory demo: simulate a rich and a lazy trajectory, fit them back from noisy copies.

    Writes demo.png (data solid, fit dashed), one CSV per regime and
    summary.json into OUT, and prints rates true vs fitted, R^2 and h_inf.
    """
    from repdyn.theory import fit, solve

    out_dir = pathlib.Path(out)
    check.output_dir("--out", out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    retire_index(out_dir / "summary.json")
    rng = np.random.default_rng(0)
    t = np.arange(_DEMO_EPOCHS + 1, dtype=np.float64)
    rows: dict[str, dict[str, Any]] = {}
    panels = []
    for name, case in _DEMO_CASES.items():
        z = solve(case["z0"], t, eta_h=case["eta_h"], eta_y=case["eta_y"], dx2=_DEMO_DX2, dy2=_DEMO_DY2)
        # Noise of 2 % of each variable's spread stands in for the network's
        # mismatch with the theory; the initial state is kept exact, as a
        # network's state at initialisation is measured exactly.
        noisy = z + _DEMO_NOISE * z.std(axis=0) * rng.standard_normal(z.shape)
        noisy[0] = z[0]
        result = fit(noisy, t, dx2=_DEMO_DX2, dy2=_DEMO_DY2)
        rows[name] = {
            "eta_h_true": case["eta_h"],
            "eta_y_true": case["eta_y"],
            **result.to_dict(),
            "h_final_observed": float(noisy[-1, 0]),
        }
        columns = {"epoch": t, **{v: noisy[:, i] for i, v in enumerate(_COLUMNS)}}
        columns.update({f"{v}_fit": result.predicted[:, i] for i, v in enumerate(_COLUMNS)})
        write_text(out_dir / f"{name}.csv", _to_csv(columns))
        panels.append((name, noisy, result.predicted))
    _plot_demo(out_dir / "demo.png", t, panels)
    write_json(out_dir / "summary.json", rows)

    typer.echo(
        f"repdyn theory demo: {_DEMO_EPOCHS} epochs, dx2={_DEMO_DX2}, dy2={_DEMO_DY2}, noise 2 %"
    )
    for name, row in rows.items():
        r2 = " ".join(f"{k}={v:.4f}" for k, v in row["r2"].items())
        typer.echo(
            f"  {name:<4}  eta_h {row['eta_h_true']:.3g} -> {row['eta_h']:.4g}   "
            f"eta_y {row['eta_y_true']:.3g} -> {row['eta_y']:.4g}   R^2 {r2}   "
            f"h_inf {row['h_inf']:.4g} (h at the end {row['h_final_observed']:.4g})"
        )
    typer.echo(f"wrote {out_dir / 'demo.png'}, rich.csv, lazy.csv and summary.json in {out_dir}")


def _to_csv(columns: dict[str, np.ndarray]) -> str:
    lines = [",".join(columns)]
    for row in zip(*columns.values(), strict=True):
        lines.append(
            ",".join(str(int(v)) if k == "epoch" else repr(float(v)) for k, v in zip(columns, row))
        )
    return "\n".join(lines) + "\n"


def _plot_file(plot: pathlib.Path | None) -> None:
    """Check ``--plot`` before anything is computed: a writable file of a format matplotlib writes."""
    if plot is None:
        return
    check.output_file("--plot", plot)
    from matplotlib.figure import Figure

    formats = Figure().canvas.get_supported_filetypes()
    suffix = plot.suffix.lstrip(".").lower()
    if suffix not in formats:
        _fail(f"--plot {plot}: unknown image format {plot.suffix or '(no suffix)'!r}; end the name with one of "
              f"{', '.join('.' + f for f in sorted(formats))}")


def _format_fit(summary: dict[str, Any]) -> str:
    lines = [f"eta_h  = {summary['eta_h']:.6g}", f"eta_y  = {summary['eta_y']:.6g}"]
    if summary["eta_m"] is not None:
        lines.append(f"eta_m  = {summary['eta_m']:.6g}   (m0 = {summary['m0']:.6g})")
    r2 = "  ".join(f"{k}={'nan' if v is None else f'{v:.5f}'}" for k, v in summary["r2"].items())
    limits = (
        f"A_low = {summary['a_low']:.4g}, A_high = {summary['a_high']:.4g}, {summary['regime']}"
    )
    status = "converged" if summary["success"] else "NOT converged"
    lines += [
        f"R^2    : {r2}",
        f"quality: {summary['quality']}",
        f"h_inf  = {summary['h_inf']:.6g}   ({limits})",
        f"fit    : {status} after {summary['n_solves']} solves ({summary['message']})",
    ]
    return "\n".join(lines)


def _draw(axes: Any, t: np.ndarray, observed: np.ndarray, predicted: np.ndarray | None) -> None:
    for i, (ax, name) in enumerate(zip(axes, _COLUMNS, strict=False)):
        ax.plot(t, observed[:, i], "-", color="C0", label="data")
        if predicted is not None:
            ax.plot(t, predicted[:, i], "--", color="C1", label="theory fit")
        ax.set_title(name)
        ax.set_xlabel("epoch")


@paper_style()
def _plot_trajectories(
    path: pathlib.Path,
    t: np.ndarray,
    observed: np.ndarray,
    predicted: np.ndarray | None,
    loss: np.ndarray | None,
    predicted_loss: np.ndarray | None,
    *,
    title: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = 3 if loss is None else 4
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.2), constrained_layout=True)
    _draw(axes, t, observed, predicted)
    if loss is not None:
        axes[3].plot(t, loss, "-", color="C0", label="data")
        if predicted_loss is not None:
            axes[3].plot(t, predicted_loss, "--", color="C1", label="theory fit")
        axes[3].set_title("loss")
        axes[3].set_xlabel("epoch")
    if predicted is not None:
        axes[0].legend()
    fig.suptitle(title)
    try:
        write_figure(fig, path, dpi=110)
    finally:
        plt.close(fig)


@paper_style()
def _plot_demo(
    path: pathlib.Path, t: np.ndarray, panels: list[tuple[str, np.ndarray, np.ndarray]]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(panels), 3, figsize=(11, 3.0 * len(panels)), constrained_layout=True
    )
    for row, (name, observed, predicted) in zip(axes, panels, strict=True):
        _draw(row, t, observed, predicted)
        row[0].set_ylabel(name)
    axes[0, 0].legend()
    fig.suptitle("Effective theory: noisy trajectories (solid) and fitted theory (dashed)")
    try:
        write_figure(fig, path, dpi=110)
    finally:
        plt.close(fig)

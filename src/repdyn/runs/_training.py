"""How a model trains: optimiser, learning rate, epochs, minibatch size, loss, and the rules that fill them in."""

from __future__ import annotations

from dataclasses import dataclass

from repdyn import checks
from repdyn.runs._model import ModelSource

#: ``batch_size`` of a run that trains on the whole data set at every step.
FULL_BATCH = "full"

#: The loss convention of the authors' reference code for each data set
#: (docs/theory.md, "Loss conventions"): ``0.5 * F.mse_loss`` in the
#: two-point, depth, context-task and MNIST notebooks, ``nn.MSELoss()`` in the
#: XOR notebook. Any other data trains on the theory's own loss.
REFERENCE_LOSS = {"two-point": "half_mse", "xor": "mse", "blobs": "half_mse", "mnist": "half_mse"}


def reference_loss(data: str | None) -> str:
    """The loss a run on ``data`` trains with when none is given: :data:`REFERENCE_LOSS`, else the theory's.

    Parameters
    ----------
    data : str or None
        ``"two-point"``, a built-in data set's name, or None (the user's data).
    """
    from repdyn.track import THEORY_LOSS

    return REFERENCE_LOSS.get(data, THEORY_LOSS) if isinstance(data, str) else THEORY_LOSS


@dataclass(frozen=True)
class Training:
    """The training of a run; a field left None takes the model's default (:meth:`resolve`).

    Parameters
    ----------
    optimizer : {"sgd", "adam"}, optional
        Default: the model's (plain SGD, unless an architecture says otherwise).
    lr : float, optional
        Learning rate. Default: the model's rate for its own optimiser; for
        Adam on a model whose own optimiser is SGD, the architecture's
        documented Adam rate (:func:`repdyn.nets.adam_learning_rate`), never
        its SGD rate; a model without a documented rate needs one.
    epochs : int, optional
        Passes over the data. Default: the model's (an architecture's table
        value), else the caller's.
    batch_size : int or "full", optional
        Minibatch size, or ``"full"`` for full-batch training. Default: the
        caller's (the atlas: 32 for data sets larger than that).
    loss : {"half_sum", "half_mse", "mse"}, optional
        The loss reduction the steps minimise (:data:`repdyn.track.LOSSES`):
        ``"half_sum"``, the theory's ``1/2 mean_i ||y_i - yhat_i||^2``;
        ``"half_mse"``, ``0.5 * F.mse_loss`` (also a mean over outputs);
        ``"mse"``, ``nn.MSELoss()``. Default: the authors' convention for the
        data (:func:`reference_loss`). Recorded losses are always the
        theory's; fitted rates are per epoch of the run as trained
        (docs/theory.md, "Loss conventions").

    Notes
    -----
    :meth:`resolve` is the one place the defaults and the Adam rate are
    decided, for the command line, the atlas and configs built in Python alike.
    """

    optimizer: str | None = None
    lr: float | None = None
    epochs: int | None = None
    batch_size: int | str | None = None
    loss: str | None = None

    def __post_init__(self) -> None:
        if self.optimizer is not None:
            from repdyn.nets import OPTIMIZERS  # the optimisers make_optimizer builds

            key = self.optimizer.strip().lower() if isinstance(self.optimizer, str) else self.optimizer
            object.__setattr__(self, "optimizer", checks.choice("optimizer", key, OPTIMIZERS))
        checks.real("lr", self.lr, above=0, allow_none=True)
        checks.integer("epochs", self.epochs, minimum=1, allow_none=True)
        if self.batch_size is not None and self.batch_size != FULL_BATCH:
            checks.integer("batch_size", self.batch_size, minimum=1,
                           fix=f"Give a number of points per step, or {FULL_BATCH!r} for full batch")
        if self.loss is not None:
            from repdyn.track import check_loss

            object.__setattr__(self, "loss", check_loss(self.loss))

    @property
    def resolved(self) -> bool:
        """Whether every field is set (as :meth:`resolve` returns it)."""
        return None not in (self.optimizer, self.lr, self.epochs, self.batch_size, self.loss)

    @property
    def full_batch(self) -> bool:
        return self.batch_size == FULL_BATCH

    def resolve(self, model: ModelSource, *, default_epochs: int | None = None,
                default_batch_size: int | str = FULL_BATCH, n_points: int | None = None,
                data: str | None = None) -> Training:
        """Every field filled in for ``model``: the one rule for defaults, the Adam rate included.

        Parameters
        ----------
        model : ModelSource
            Gives the defaults (:attr:`ModelSource.defaults`).
        default_epochs : int, optional
            Epochs of a model that has no default of its own.
        default_batch_size : int or "full", default "full"
            Minibatch size where none was asked for.
        n_points : int, optional
            Points of the data set: a batch of at least that many trains full batch,
            a larger one is refused.
        data : str, optional
            What the model trains on (``"two-point"``, a built-in data set, or
            None), for the default loss (:func:`reference_loss`).

        Raises
        ------
        repdyn.checks.BadArgument
            No learning rate or epochs can be found, or the batch size exceeds the data.
        """
        defaults = model.defaults
        optimizer = self.optimizer or defaults.optimizer
        lr = self.lr if self.lr is not None else default_learning_rate(model, optimizer)
        epochs = self.epochs if self.epochs is not None else defaults.epochs or default_epochs
        if epochs is None:
            raise checks.ArgumentValueError("epochs", f"{model.label} has no default number of epochs; pass epochs")
        batch = self.batch_size if self.batch_size is not None else default_batch_size
        if n_points is not None and batch != FULL_BATCH:
            if self.batch_size is not None and batch > n_points:
                raise checks.ArgumentValueError(
                    "batch_size", f"batch_size must be an integer in [1, {n_points}] (the points of the data set) "
                    f"or {FULL_BATCH!r}; got {batch}")
            if batch >= n_points:
                batch = FULL_BATCH
        loss = self.loss if self.loss is not None else reference_loss(data)
        return Training(optimizer=optimizer, lr=float(lr), epochs=int(epochs), batch_size=batch, loss=loss)

    def describe(self) -> str:
        """``sgd at lr 0.01, 100 epochs, minibatches of 32, loss half_mse`` (a resolved training)."""
        batch = "full batch" if self.full_batch else f"minibatches of {self.batch_size}"
        return f"{self.optimizer} at lr {self.lr:g}, {self.epochs} epochs, {batch}, loss {self.loss}"


def default_learning_rate(model: ModelSource, optimizer: str) -> float:
    """The rate ``model`` trains with under ``optimizer`` when none is given.

    The model's own rate for its own optimiser; for Adam on a model whose own
    optimiser is SGD, the architecture's documented Adam rate (an Adam rate is
    orders of magnitude below an SGD rate, so SGD's is never reused).

    Raises
    ------
    repdyn.checks.ArgumentValueError
        (``parameter="lr"``) no default rate exists; the message says to pass one.
    """
    from repdyn.nets import adam_learning_rate

    defaults = model.defaults
    if optimizer == defaults.optimizer and defaults.lr is not None:
        return float(defaults.lr)
    if optimizer == "adam" and model.kind == "architecture":
        try:
            return float(adam_learning_rate(model.spec.name))
        except ValueError as exc:
            raise checks.ArgumentValueError("lr", f"optimizer adam: {exc}") from None
    raise checks.ArgumentValueError(
        "lr", f"{model.label} has no default learning rate for {optimizer}; pass lr (--lr)")

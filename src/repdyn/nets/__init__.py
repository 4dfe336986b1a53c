"""The paper's network architectures (Tables 1 and 2) as PyTorch modules.

- :class:`ArchSpec`: a frozen, validated architecture record;
  :func:`get_architecture` finds a registered one by name (:data:`TABLE1`,
  :data:`TABLE2`, :data:`ARCHITECTURES`); ``spec.replace(...)`` varies it.
- :func:`build_network`: a seeded :class:`Network` whose hidden layers are
  named submodules (``network.hidden_layer_names``, ``network.tracked_layer``)
  so forward hooks can record their representations.
- :func:`make_optimizer`: ``"sgd"`` or ``"adam"``.
- :class:`SmallCNN` / :func:`build_small_cnn`: a small convolutional network
  for MNIST (not in the paper), with named hidden layers like :class:`Network`.

See ``docs/architectures.md`` for the exact structure of every variant.
"""

from repdyn.nets._cnn import MNIST_IMAGE, SmallCNN, build_small_cnn
from repdyn.nets._network import (
    Block,
    Network,
    build_network,
    make_activation,
    tracked_layer_index,
)
from repdyn.nets._optim import make_optimizer
from repdyn.nets._registry import (
    ADAM_LEARNING_RATES,
    ARCHITECTURES,
    TABLE1,
    TABLE2,
    adam_learning_rate,
    get_architecture,
)
from repdyn.nets._spec import NONLINEARITIES, OPTIMIZERS, VARIANTS, ArchSpec

__all__ = [
    "ADAM_LEARNING_RATES",
    "ARCHITECTURES",
    "MNIST_IMAGE",
    "NONLINEARITIES",
    "OPTIMIZERS",
    "TABLE1",
    "TABLE2",
    "VARIANTS",
    "ArchSpec",
    "Block",
    "Network",
    "SmallCNN",
    "adam_learning_rate",
    "build_network",
    "build_small_cnn",
    "get_architecture",
    "make_activation",
    "make_optimizer",
    "tracked_layer_index",
]

"""The paper's network architectures (Tables 1 and 2) as PyTorch modules.

- :class:`ArchSpec`: a frozen, validated architecture record;
  :func:`get_architecture` finds a registered one by name (:data:`TABLE1`,
  :data:`TABLE2`, :data:`ARCHITECTURES`); ``spec.replace(...)`` varies it.
- :func:`build_network`: a seeded :class:`Network` whose hidden layers are
  named submodules (``network.hidden_layer_names``, ``network.tracked_layer``)
  so forward hooks can record their representations.
- :func:`make_optimizer`: ``"sgd"`` or ``"adam"``.
- :data:`NONLINEARITY_TABLE`: every nonlinearity (:class:`Nonlinearity`): its
  module, its spellings, and its forward and backward for numpy and torch;
  :func:`make_activation` builds one.
- :class:`SmallCNN` / :func:`build_small_cnn`: a small convolutional network
  for MNIST (not in the paper), with named hidden layers like :class:`Network`.

See ``docs/architectures.md`` for the exact structure of every variant.
"""

from repdyn.nets._cnn import MNIST_IMAGE, SmallCNN, build_small_cnn
from repdyn.nets._network import Block, Network, build_network, tracked_layer_index
from repdyn.nets._nonlinearity import (
    NONLINEARITIES,
    NONLINEARITY_TABLE,
    Nonlinearity,
    make_activation,
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
from repdyn.nets._spec import OPTIMIZERS, VARIANTS, ArchSpec

__all__ = [
    "ADAM_LEARNING_RATES",
    "ARCHITECTURES",
    "MNIST_IMAGE",
    "NONLINEARITIES",
    "NONLINEARITY_TABLE",
    "OPTIMIZERS",
    "TABLE1",
    "TABLE2",
    "VARIANTS",
    "ArchSpec",
    "Block",
    "Network",
    "Nonlinearity",
    "SmallCNN",
    "adam_learning_rate",
    "build_network",
    "build_small_cnn",
    "get_architecture",
    "make_activation",
    "make_optimizer",
    "tracked_layer_index",
]

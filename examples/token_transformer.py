"""A token model: an nn.Embedding transformer, tracked with the input distance you choose.

The task: sequences of 4 tokens from a vocabulary of 8; the target is +1 when
token 0 appears in the first half, -1 otherwise. The model embeds the tokens
(``nn.Embedding``: the inputs stay int64 token ids), runs one transformer
encoder layer and reads out the mean over positions.

The theory needs each pair's squared input distance ``dx2``. Token ids have
none of their own (``(5 - 2)**2`` means nothing), so it is chosen: here the
one-hot distance (2 per differing position) for one pair, and the squared
distance of the model's own embedding at its initial weights in the atlas.
Runs in about 20 s on a CPU::

    python examples/token_transformer.py [OUT]
"""

from __future__ import annotations

import functools
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

import repdyn
from repdyn.theory import fit
from repdyn.track import one_hot_distance, track_pair

torch.set_num_threads(1)

VOCAB, LENGTH = 8, 4


class TokenTransformer(nn.Module):
    """Token ids (N, T) -> embedding -> one encoder layer -> mean over positions -> read-out."""

    def __init__(self, input_shape: tuple[int, ...] = (LENGTH,), out_dim: int = 1, width: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, width)
        self.encoder = nn.TransformerEncoderLayer(width, nhead=2, dim_feedforward=32, dropout=0.0,
                                                  batch_first=True)
        self.pool = nn.Identity()  # the pooled representation, a layer to track
        self.head = nn.Linear(width, out_dim)
        self.hidden_layer_names = ("embed", "encoder", "pool")  # "all" layers for the atlas
        with torch.no_grad():
            self.head.weight.mul_(0.1)  # a small read-out: the representation has to move

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.encoder(self.embed(tokens)).mean(dim=1)))


def task(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, VOCAB, size=(n, LENGTH))
    has_zero = rng.random(n) < 0.5
    tokens[has_zero, rng.integers(0, LENGTH // 2, has_zero.sum())] = 0
    target = np.where((tokens[:, : LENGTH // 2] == 0).any(axis=1), 1.0, -1.0)
    return tokens, target.astype(np.float32)


def main(out: Path) -> None:
    tokens, target = task(96)

    # One pair, full batch: dx2 from the one-hot encoding of the two sequences.
    torch.manual_seed(0)
    model = TokenTransformer()
    x = torch.as_tensor(tokens[[0, 1]])
    y = torch.as_tensor(target[[0, 1]]).reshape(2, 1)
    run = track_pair(model, "pool", x, y, optimizer=functools.partial(torch.optim.SGD, lr=0.1), epochs=300,
                     input_distance=one_hot_distance, seed=0)
    result = fit(**run.theory_inputs("pool"))
    print(f"pair {tokens[0].tolist()} vs {tokens[1].tolist()}: dx2 = {run.dx2:g} (one-hot), run {run.status}")
    print(f"pool: eta_h={result.eta_h:.3g} eta_y={result.eta_y:.3g} (1 / step), "
          f"R2 h={result.r2['h']:.3f} y={result.r2['y']:.3f} w={result.r2['w']:.3f} -> {result.quality}")

    # Many pairs at every layer: dx2 from the model's own embedding at its initial weights.
    atlas = repdyn.atlas(TokenTransformer, (tokens, target), input_distance="embed", pairs=40, lr=0.1,
                         epochs=20, batch_size=32, out=out / "atlas", progress=False)
    print(f"atlas: {atlas.summary['input_distance']}; rates in {atlas.summary['rate_units']}")
    for layer, numbers in atlas.summary["layers"].items():
        good = numbers["good_fit_fraction"]
        spearman = numbers["final_spearman"]
        print(f"  {layer:8s} good fits: same {good['same']:.2f}, different {good['different']:.2f}; "
              f"final distance Spearman: theory {spearman['cross_validated']:.2f}, "
              f"baseline h0 {spearman['h0_baseline']:.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))

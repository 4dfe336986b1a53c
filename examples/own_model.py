"""Your own model end to end: track a pair, fit the theory, judge the fit, predict the end.

The model is a small attention network that repdyn knows nothing about. Its
``nn.MultiheadAttention`` returns a tuple ``(output, weights)``; the layer
name ``"attn[0]"`` tracks the first element. Runs in a few seconds on a CPU::

    python examples/own_model.py
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from repdyn.theory import RateEstimator, final_distance
from repdyn.track import track_pair

torch.set_num_threads(1)

#: Below this R^2 of h the theory does not describe the layer (docs/own-model.md, "Judge the fit").
GOOD_R2 = 0.9


class TinyAttention(nn.Module):
    """Embed each input as 4 tokens, attend, pool, read out."""

    def __init__(self, width: int = 16, tokens: int = 4) -> None:
        super().__init__()
        self.tokens = tokens
        self.embed = nn.Linear(1, width * tokens)
        self.attn = nn.MultiheadAttention(width, num_heads=2, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.Tanh())
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.embed(x).reshape(x.shape[0], self.tokens, -1)
        a, _ = self.attn(z, z, z)
        return self.head(self.mlp((z + a).mean(dim=1)))


def main() -> None:
    torch.manual_seed(0)
    model = TinyAttention()
    with torch.no_grad():
        model.head.weight.mul_(0.1)  # a small read-out: the rich regime, where h moves

    # The paper's two points: dx2 = 1, dy2 = 0.5.
    x = torch.tensor([[-1.0], [0.0]])
    y = torch.tensor([[0.6], [0.6 + 0.5**0.5]])
    layers = ["attn[0]", "mlp"]
    run = track_pair(model, layers, x, y, optimizer=functools.partial(torch.optim.SGD, lr=0.05),
                     epochs=1500, loss_threshold=1e-4, seed=0)
    print(f"run: {run.status}, final loss {run.final_loss:.2g}, {run.seconds:.1f} s")

    for layer in layers:
        # observed, t, dx2, dy2 and loss of this layer, as RateEstimator.fit takes them.
        est = RateEstimator().fit(**run.theory_inputs(layer))
        r2 = est.r2_
        verdict = "described" if min(r2["h"], r2["y"], r2["w"]) >= GOOD_R2 else "NOT described"
        # Predict where h ends from the initial state alone, beside the "nothing moves" baseline h0.
        i = run.layer_index(layer)
        h0, h_end = run.h[0, i], run.h[run.last_finite_epoch, i]
        pred = final_distance(
            h0, run.y[0], eta_h=est.eta_h_, eta_y=est.eta_y_, dx2=run.dx2, dy2=run.dy2
        )
        print(f"{layer:8s} eta_h={est.eta_h_:.3g} eta_y={est.eta_y_:.3g} "
              f"R2 h={r2['h']:.3f} y={r2['y']:.3f} w={r2['w']:.3f} -> {verdict} by the theory")
        print(f"{'':8s} final h: measured {h_end:.4g}, theory {float(pred.h_inf):.4g} "
              f"({pred.regime}), baseline h0 {h0:.4g}")
    print(f"fit summary: {est.result_!r}")


if __name__ == "__main__":
    main()

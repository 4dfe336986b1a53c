"""Tracking models whose layers return tuples or dicts, or keep the batch second."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from torch import nn

from repdyn.track import measure_pair, resolve_layers, track_pair
from repdyn.track._layers import split_selector

SGD = functools.partial(torch.optim.SGD, lr=0.05)
X = torch.tensor([[1.0, 0.0, -1.0], [0.0, 2.0, 0.5]])
Y = torch.tensor([[0.5], [-0.5]])


class AttentionNet(nn.Module):
    """Linear -> self-attention over one token -> linear; batch first or second."""

    def __init__(self, batch_first: bool = True) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.inp = nn.Linear(3, 8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=batch_first)
        self.out = nn.Linear(8, 1)
        self.batch_first = batch_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.inp(x).unsqueeze(1 if self.batch_first else 0)
        a, _ = self.attn(z, z, z)
        return self.out(a[:, 0] if self.batch_first else a[0])


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = torch.tanh(self.lin(x))
        return {"hidden": hidden, "aux": hidden.sum()}


class DictNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.block = Block()
        self.out = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.block(x)["hidden"])


def _h(output: torch.Tensor, batch_dim: int = 0) -> float:
    pair = output.detach().movedim(batch_dim, 0).to(torch.float64).reshape(2, -1)
    return float(((pair[0] - pair[1]) ** 2).sum())


def test_selector_syntax():
    assert split_selector("attn[0]") == ("attn", (0,))
    assert split_selector("block[hidden]") == ("block", ("hidden",))
    assert split_selector("a.b[0][key]") == ("a.b", (0, "key"))
    assert split_selector("hidden.3") == ("hidden.3", ())
    model = AttentionNet()
    assert resolve_layers(model, ["attn[0]", "inp"]) == ("attn[0]", "inp")
    with pytest.raises(ValueError, match="'atn' is not a submodule"):
        resolve_layers(model, "atn[0]")


def test_multihead_attention_element_is_tracked_exactly():
    model = AttentionNet()
    z = model.inp(X).unsqueeze(1)
    expected = _h(model.attn(z, z, z)[0])
    measured = measure_pair(model, "attn[0]", X, Y)["attn[0]"]
    assert measured[0] == pytest.approx(expected, rel=1e-12)
    run = track_pair(model, "attn[0]", X, Y, optimizer=SGD, epochs=5)
    assert run.layers == ("attn[0]",) and run.h[0, 0] == pytest.approx(expected, rel=1e-12)
    assert np.all(np.isfinite(run.h))


def test_batch_second_attention_and_encoder_layer():
    model = AttentionNet(batch_first=False)
    z = model.inp(X).unsqueeze(0)  # (seq, batch, feature)
    expected = _h(model.attn(z, z, z)[0], batch_dim=1)
    assert measure_pair(model, "attn[0]", X, Y, batch_dim=1)["attn[0]"][0] == pytest.approx(expected)
    with pytest.raises(ValueError, match=r"dimension 0 \(batch_dim\).*batch_dim=1"):
        measure_pair(model, "attn[0]", X, Y)

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(2)
            self.inp = nn.Linear(3, 8)
            self.enc = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=False)
            self.out = nn.Linear(8, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.enc(self.inp(x).unsqueeze(0))[0])

    run = track_pair(
        Encoder(), ["enc", "enc.self_attn[0]"], X, Y, optimizer=SGD, epochs=10,
        batch_dim={"enc": 1, "enc.self_attn[0]": 1},
    )
    assert run.status == "completed" and np.all(np.isfinite(run.h)) and np.all(run.h > 0)


def test_dict_output_by_key():
    model = DictNet()
    expected = _h(model.block(X)["hidden"])
    assert measure_pair(model, "block[hidden]", X, Y)["block[hidden]"][0] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("model", "layer", "error", "message"),
    [
        (AttentionNet(), "attn", TypeError, r"returned a tuple of 2 elements.*e\.g\. 'attn\[0\]'"),
        (DictNet(), "block", TypeError, r"keys \['hidden', 'aux'\].*e\.g\. 'block\[hidden\]'"),
        (AttentionNet(), "attn[5]", ValueError, r"selector \[5\] does not match"),
        (DictNet(), "block[nope]", ValueError, r"selector \[nope\] does not match"),
        (AttentionNet(), "attn.out_proj", ValueError, r"never called as a module.*'attn\[0\]'"),
    ],
)
def test_errors_say_how_to_select(model, layer, error, message):
    with pytest.raises(error, match=message):
        track_pair(model, layer, X, Y, optimizer=SGD, epochs=2)


def test_progress_reports_epochs_done():
    done = []
    track_pair(AttentionNet(), "attn[0]", X, Y, optimizer=SGD, epochs=600,
               progress=lambda d, total: done.append((d, total)))
    assert done == [(256, 600), (512, 600), (600, 600)]
    with pytest.raises(TypeError, match="progress must be True"):
        track_pair(AttentionNet(), "attn[0]", X, Y, optimizer=SGD, epochs=2, progress="yes")
    with pytest.raises(ValueError, match="batch_dim must be an integer >= 0; got -1"):
        track_pair(AttentionNet(), "attn[0]", X, Y, optimizer=SGD, epochs=2, batch_dim=-1)


def test_minibatch_progress_and_selector():
    from repdyn.track import train_tracking_pair

    x = torch.cat([X, -X])
    y = torch.cat([Y, -Y])
    done = []
    run = train_tracking_pair(DictNet(), "block[hidden]", x, y, (0, 1), optimizer=SGD, epochs=3,
                              batch_size=2, seed=0, progress=lambda d, total: done.append(d))
    assert done == [1, 2, 3] and np.all(np.isfinite(run.h))

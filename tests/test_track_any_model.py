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


class TokenTransformer(nn.Module):
    """Token ids -> nn.Embedding -> one encoder layer -> mean over positions -> read-out."""

    def __init__(self, vocab: int = 12, width: int = 8, out: int = 1) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.embed = nn.Embedding(vocab, width)
        self.encoder = nn.TransformerEncoderLayer(width, nhead=2, dim_feedforward=16, dropout=0.0,
                                                  batch_first=True)
        self.head = nn.Linear(width, out)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(tokens)).mean(dim=1))


class BatchNormCNN(nn.Module):
    """Images (N, 1, 6, 6) -> conv -> batch norm -> ReLU -> read-out; checks it is given images."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.conv = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 36, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        assert images.ndim == 4, f"expected images (N, C, H, W); got {tuple(images.shape)}"
        return self.head(self.conv(images))


TOKENS = torch.tensor([[1, 2, 3, 4], [1, 5, 3, 7]])


def test_a_token_model_is_tracked_with_the_input_distance_it_is_given():
    from repdyn.track import one_hot_distance

    model = TokenTransformer()
    run = track_pair(model, "encoder", TOKENS, Y, optimizer=SGD, epochs=20, input_distance=one_hot_distance)
    assert run.dx2 == 4.0  # two positions differ: 2 each, not the squared difference of the ids (16 + 9)
    assert np.all(np.isfinite(run.h)) and run.h.shape == (21, 1)
    # The squared distance of the embedding's outputs, as the model first sees the tokens.
    fresh = TokenTransformer()
    embedded = fresh.embed(TOKENS).detach().to(torch.float64).flatten(1)
    expected = float(((embedded[0] - embedded[1]) ** 2).sum())

    def embedding(first, second):
        return ((fresh.embed(first) - fresh.embed(second)) ** 2).flatten(1).sum(1)

    run = track_pair(fresh, "encoder", TOKENS, Y, optimizer=SGD, epochs=2, input_distance=embedding)
    assert run.dx2 == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="integer inputs .token ids. have no squared distance"):
        track_pair(TokenTransformer(), "encoder", TOKENS, Y, optimizer=SGD, epochs=2)


def test_many_pairs_of_token_sequences_use_a_distance_matrix_or_function():
    from repdyn.track import one_hot_distance, track_pairs

    tokens = torch.tensor([[1, 2, 3, 4], [1, 5, 3, 7], [2, 2, 2, 2], [1, 2, 3, 5]])
    y = torch.tensor([[0.5], [-0.5], [0.5], [-0.5]])
    pairs = np.array([[0, 1], [0, 2], [0, 3], [1, 2]])
    run = track_pairs(TokenTransformer(), ["embed", "encoder"], tokens, y, pairs, optimizer=SGD, epochs=3,
                      input_distance=one_hot_distance)
    np.testing.assert_array_equal(run.dx2, [4.0, 6.0, 2.0, 8.0])
    matrix = np.arange(16.0).reshape(4, 4)
    matrix = matrix + matrix.T
    run = track_pairs(TokenTransformer(), "encoder", tokens, y, pairs, optimizer=SGD, epochs=1, input_distance=matrix)
    np.testing.assert_array_equal(run.dx2, matrix[pairs[:, 0], pairs[:, 1]])
    with pytest.raises(ValueError, match="input_distance must be finite numbers >= 0"):
        track_pairs(TokenTransformer(), "encoder", tokens, y, pairs, optimizer=SGD, epochs=1,
                    input_distance=-matrix)


def test_an_image_model_with_batch_norm_is_tracked_with_its_images_unflattened():
    from repdyn.track import track_pairs

    rng = np.random.default_rng(0)
    images = torch.as_tensor(rng.normal(size=(8, 1, 6, 6)), dtype=torch.float32)
    y = torch.as_tensor(np.repeat([[0.5], [-0.5]], 4, axis=0), dtype=torch.float32)
    model = BatchNormCNN()
    run = track_pairs(model, ["conv"], images, y, 6, optimizer=SGD, epochs=4, batch_size=4, seed=0)
    flat = images.reshape(8, -1).to(torch.float64)
    expected = ((flat[run.pairs[:, 0]] - flat[run.pairs[:, 1]]) ** 2).sum(1).numpy()
    np.testing.assert_allclose(run.dx2, expected)
    assert np.all(np.isfinite(run.h)) and run.h.shape == (6, 1, 5)
    pair = track_pair(BatchNormCNN(), "conv", images[:2], y[:2], optimizer=SGD, epochs=3)
    assert np.all(np.isfinite(pair.h))

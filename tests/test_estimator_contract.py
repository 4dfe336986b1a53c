"""RateEstimator against scikit-learn's estimator contract (scikit-learn is in the test extra).

scikit-learn's own checks run where they apply. The estimator is not tabular:
its data are trajectories of shape ([B,] T, 3) with their times and the data's
constants ``dx2`` and ``dy2``, not an ``(n_samples, n_features)`` table ``X``
with targets ``y``. So every check that fits on such a table is skipped:

* ``check_fit2d_*``, ``check_fit1d``, ``check_estimators_dtypes``,
  ``check_estimators_nan_inf``, ``check_estimators_empty_data_messages``,
  ``check_fit_idempotent``, ``check_estimators_pickle``, ``check_n_features_in``,
  ``check_methods_*_invariance``, ``check_regressors_*``, ``check_supervised_y_*``,
  ``check_sample_weights_*`` and the like: they call ``fit(X, y)`` on random
  tables, which are no trajectories;
* ``check_dont_overwrite_parameters``, ``check_estimators_overwrite_params`` and
  ``check_estimators_fit_returns_self``: same reason; the properties they test
  (fit sets only attributes ending in ``_``, leaves the parameters untouched,
  returns self) are tested below on a trajectory;
* ``check_estimators_unfitted``: it demands scikit-learn's ``NotFittedError``
  class, which repdyn cannot raise without depending on scikit-learn; the
  estimator raises a ``ValueError`` instead (tested below and in test_fit.py);
* checks of tags, transformers, classifiers, sparse and array-API input: not
  this kind of estimator.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from repdyn.theory import RateEstimator, solve

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.utils import estimator_checks  # noqa: E402

#: The checks of scikit-learn that apply to a non-tabular estimator (see the module notes).
APPLICABLE_CHECKS = (
    "check_no_attributes_set_in_init",
    "check_get_params_invariance",
    "check_set_params",
    "check_parameters_default_constructible",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_estimator_tags_renamed",
)

T = np.linspace(0.0, 3000.0, 61)
DX2, DY2 = 1.0, 0.5


def trajectory() -> np.ndarray:
    return solve((1e-2, 1e-4, 1e-4), T, eta_h=0.002, eta_y=0.003, dx2=DX2, dy2=DY2)


@pytest.mark.parametrize("check", APPLICABLE_CHECKS)
@pytest.mark.parametrize(
    "estimator", [RateEstimator(), RateEstimator(rtol=1e-9, max_nfev=20, objective="paper")],
    ids=["defaults", "set"],
)
def test_scikit_learn_checks_that_apply(check, estimator):
    with warnings.catch_warnings():
        # check_set_params only warns when set_params validates: make that a failure.
        warnings.simplefilter("error", UserWarning)
        getattr(estimator_checks, check)("RateEstimator", estimator)


def test_parameters_come_from_the_constructor_signature():
    est = RateEstimator(rtol=1e-9, max_nfev=20, objective="paper")
    assert est.get_params() == {"max_nfev": 20, "objective": "paper", "rtol": 1e-9}
    assert est.get_params(deep=False) == est.get_params(deep=True)
    assert repr(est) == "RateEstimator(max_nfev=20, objective='paper', rtol=1e-09)"

    class Extended(RateEstimator):
        def __init__(self, *, rtol=None, max_nfev=200, objective="scaled", note="x"):
            super().__init__(rtol=rtol, max_nfev=max_nfev, objective=objective)
            self.note = note

    # A subclass's new parameter is listed without touching get_params.
    assert Extended(note="y").get_params()["note"] == "y"
    assert clone(Extended(note="y")).note == "y"


def test_fit_sets_only_trailing_underscore_attributes_and_returns_self():
    est = RateEstimator(max_nfev=50)
    before = dict(vars(est))
    assert est.fit(trajectory(), T, dx2=DX2, dy2=DY2) is est
    added = set(vars(est)) - set(before)
    assert added and all(name.endswith("_") for name in added), sorted(added)
    assert all(vars(est)[name] is value for name, value in before.items())
    assert est.get_params() == {"max_nfev": 50, "objective": "scaled", "rtol": None}


def test_clone_round_trip_drops_the_fit():
    est = RateEstimator(rtol=1e-9).fit(trajectory(), T, dx2=DX2, dy2=DY2)
    copy = clone(est)
    assert copy is not est and copy.get_params() == est.get_params()
    assert not any(name.endswith("_") for name in vars(copy))
    with pytest.raises(ValueError, match="not fitted"):
        copy.predict(T)
    # The clone fits to the same rates: the data's constants travel with fit, not the estimator.
    refit = copy.fit(trajectory(), T, dx2=DX2, dy2=DY2)
    assert (refit.eta_h_, refit.eta_y_) == (est.eta_h_, est.eta_y_)

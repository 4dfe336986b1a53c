"""Fuzz test of the public theory API (issue 21): bad arguments drawn from classes.

Every public function of ``repdyn.theory`` is called validly, with one or two
arguments replaced by a value of a class a user might pass (0, negative, huge,
tiny, subnormal, NaN, infinities, booleans, strings, None, wrong shapes,
objects). It must return a finite result (trajectories inside the reachable
set), or raise a ValueError or TypeError that names an argument it was given
badly; never another exception. The cases live in ``tests/_theory_fuzz.py``,
shared with ``benchmarks/bench_robustness.py``.
"""

from __future__ import annotations

import pytest
from _theory_fuzz import BAD_VALUES, TARGETS, run_case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@st.composite
def cases(draw):
    target = draw(st.sampled_from(TARGETS))
    names = draw(st.lists(st.sampled_from(sorted(target.valid)), min_size=1, max_size=2, unique=True))
    return target, {name: draw(st.sampled_from(sorted(BAD_VALUES))) for name in names}


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_every_target_accepts_its_valid_call(target):
    outcome = run_case(target, {})
    assert outcome.kind == "valid", outcome.detail


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_bad_arguments_give_a_valid_result_or_a_named_error(case):
    target, bad = case
    outcome = run_case(target, bad)
    assert outcome.kind != "failure", outcome.detail

"""repdyn.checks: one rule and one message style for every argument check."""

import math

import numpy as np
import pytest

from repdyn import checks
from repdyn.checks import ArgumentTypeError, ArgumentValueError, BadArgument


@pytest.mark.parametrize("value", [True, False, np.bool_(True), "1", "0.5", None, [1.0], 1 + 0j])
def test_real_refuses_what_is_not_a_number(value):
    with pytest.raises(ArgumentTypeError, match=r"^lr must be a finite number > 0; got ") as info:
        checks.real("lr", value, above=0)
    assert info.value.parameter == "lr"
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize("value", [0.0, -1, math.nan, math.inf, -math.inf, np.float32("nan")])
def test_real_refuses_what_is_out_of_range(value):
    with pytest.raises(ArgumentValueError) as info:
        checks.real("lr", value, above=0)
    assert isinstance(info.value, ValueError) and info.value.parameter == "lr"


def test_real_bounds_are_strict_or_inclusive_as_named():
    assert checks.real("x", 0, at_least=0) == 0.0
    assert checks.real("x", 1, at_most=1) == 1.0
    with pytest.raises(ArgumentValueError, match=r"x must be a finite number > 0 and < 1; got 1\.0"):
        checks.real("x", 1.0, above=0, below=1)
    assert checks.real("x", np.float32(0.5), above=0, below=1) == 0.5
    assert isinstance(checks.real("x", np.int64(3)), float)
    assert checks.real("x", None, allow_none=True) is None


def test_messages_print_numbers_plainly_and_arrays_by_shape():
    with pytest.raises(ArgumentValueError) as info:
        checks.real("gain", np.float64(-1.0), above=0, fix="pass a positive gain")
    assert str(info.value) == "gain must be a finite number > 0; got -1.0. pass a positive gain"
    big = np.zeros((5000, 784))
    with pytest.raises(ArgumentTypeError) as info:
        checks.real("x", big)
    assert "shape (5000, 784)" in str(info.value) and len(str(info.value)) < 120


def test_real_array_checks_every_element_and_names_the_first_bad_one():
    out = checks.real_array("h0", [1, 2.5], above=0)
    assert out.dtype == np.float64 and out.tolist() == [1.0, 2.5]
    with pytest.raises(ArgumentValueError, match=r"element 1 is -2\.0"):
        checks.real_array("h0", [1.0, -2.0, 3.0], above=0)
    with pytest.raises(ArgumentValueError, match=r"element \(1, 0\) is nan"):
        checks.real_array("z", [[1.0, 2.0], [math.nan, 1.0]])
    for bad in (np.array([True, False]), "1.0", np.array(["a"]), [object()]):
        with pytest.raises(ArgumentTypeError):
            checks.real_array("h0", bad)


@pytest.mark.parametrize("value", [2.0, True, "3", None, np.float64(3)])
def test_integer_refuses_non_integers(value):
    with pytest.raises(ArgumentTypeError, match=r"^epochs must be an integer >= 1; got "):
        checks.integer("epochs", value, minimum=1)


def test_integer_range_and_numpy_integers():
    assert checks.integer("epochs", np.int32(7), minimum=1) == 7
    assert type(checks.integer("epochs", np.int32(7))) is int
    with pytest.raises(ArgumentValueError, match=r"epochs must be an integer >= 1 and <= 10; got 11"):
        checks.integer("epochs", 11, minimum=1, maximum=10)
    assert checks.integer("n", None, allow_none=True) is None


def test_seed_range_is_the_generators_and_counts_the_trials():
    assert checks.seed("seed", 0) == 0
    assert checks.seed("seed", checks.MAX_SEED) == checks.MAX_SEED
    np.random.RandomState(checks.MAX_SEED)  # the bound is numpy's legacy generator's
    with pytest.raises(ValueError):
        np.random.RandomState(checks.MAX_SEED + 1)
    for bad in (-1, checks.MAX_SEED + 1, 9223372036854775807):
        with pytest.raises(ArgumentValueError):
            checks.seed("seed", bad)
    with pytest.raises(ArgumentValueError, match="3 trials"):
        checks.seed("seed", checks.MAX_SEED - 1, count=3)
    assert checks.seed("seed", checks.MAX_SEED - 2, count=3) == checks.MAX_SEED - 2


def test_choice_lists_the_options_and_suggests_the_closest():
    assert checks.choice("optimizer", "adam", ("sgd", "adam")) == "adam"
    with pytest.raises(ArgumentValueError) as info:
        checks.choice("optimizer", "adma", ("sgd", "adam"))
    assert str(info.value) == "optimizer must be one of 'sgd', 'adam'; got 'adma' (did you mean 'adam'?)"
    with pytest.raises(ArgumentTypeError):
        checks.choice("optimizer", 3, ("sgd", "adam"))
    with pytest.raises(ArgumentTypeError):
        checks.choice("optimizer", ["sgd"], ("sgd", "adam"))


def test_flag_takes_only_booleans():
    assert checks.flag("fit", np.bool_(False)) is False
    for bad in (1, 0, "True", None):
        with pytest.raises(ArgumentTypeError, match=r"^fit must be True or False; got "):
            checks.flag("fit", bad)


def test_every_error_is_a_bad_argument():
    for call in (lambda: checks.real("a", "x"), lambda: checks.integer("a", -1, minimum=0),
                 lambda: checks.choice("a", "z", ("x",)), lambda: checks.flag("a", 2)):
        with pytest.raises(BadArgument) as info:
            call()
        assert info.value.parameter == "a"

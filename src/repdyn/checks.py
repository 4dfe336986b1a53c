"""Argument checks with one message style, shared by every layer of repdyn.

This module sits below everything else (numpy only), so the theory, the
trainers, the configs, the atlas and the command line all check a number, a
count, a seed or a choice by the same rule and say so in the same words::

    lr must be a finite number > 0; got -1.0
    epochs must be an integer >= 1; got 2.5
    optimizer must be one of 'sgd', 'adam'; got 'adma' (did you mean 'adam'?)

A value of the wrong kind (a bool, a string or an array where a number
belongs) raises :class:`ArgumentTypeError`, a TypeError; a value of the right
kind outside its range raises :class:`ArgumentValueError`, a ValueError. Both
are :class:`BadArgument`, whose ``parameter`` is the argument's name, so that
the command line can name its own option (``--lr`` for ``lr``) without
parsing the message.

Booleans are not numbers here (``True`` is not a learning rate), strings are
not numbers (``"1"`` is refused, not converted), and neither NaN nor an
infinity is ever in range.
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "MAX_SEED",
    "USER_CODE_FAILURES",
    "ArgumentTypeError",
    "ArgumentValueError",
    "BadArgument",
    "byte_size",
    "choice",
    "describe",
    "flag",
    "integer",
    "real",
    "real_array",
    "seed",
    "user_code_failure",
]

#: The largest seed: numpy's legacy generator and torch's both take every
#: integer in [0, 2**32 - 1], so a seed there means the same run everywhere.
MAX_SEED = 2**32 - 1


#: What a user's code (a model's file, factory or forward) may raise that makes
#: it bad input: any exception, and an exit (``sys.exit(0)`` in a factory
#: builds no model; it is no successful run). Ctrl-C stays the user's interrupt.
USER_CODE_FAILURES = (Exception, SystemExit)


def user_code_failure(exc: BaseException) -> str:
    """What the user's code did, in words: ``ValueError: bad width``, ``it called sys.exit(0) ...``."""
    if isinstance(exc, SystemExit):
        return (f"it called sys.exit({exc.code!r}) (raised SystemExit); a model's file, factory and forward must "
                "build and run the model, not exit")
    return f"{type(exc).__name__}: {exc}"


class BadArgument(Exception):
    """A bad argument; ``parameter`` names it (``"lr"``, ``"seed"``, ``"z0[..., 0]"``)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class ArgumentTypeError(BadArgument, TypeError):
    """An argument of the wrong kind: a bool, a string or an array where a number belongs."""


class ArgumentValueError(BadArgument, ValueError):
    """An argument of the right kind outside its range (NaN and infinities are never in range)."""


def describe(value: Any) -> str:
    """``value`` as a user would write it, short enough for a message.

    Numbers print plainly (``-1.0``, ``nan``; never ``np.float64(-1.0)``),
    arrays by their shape and dtype rather than their contents, long strings cut.
    """
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return f"an array of shape {value.shape} ({value.dtype})"
    if hasattr(value, "shape") and hasattr(value, "dtype") and getattr(value, "ndim", 0) > 0:
        return f"a {type(value).__name__} of shape {tuple(value.shape)} ({value.dtype})"
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, numbers.Integral):
        text = repr(int(value))
        return text if len(text) <= 40 else f"an integer of {len(text)} digits"
    if isinstance(value, numbers.Real):
        return repr(float(value))
    if isinstance(value, (list, tuple)) and len(value) > 8:
        return f"a {type(value).__name__} of {len(value)} items"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _message(name: str, expected: str, value: Any, fix: str | None) -> str:
    text = f"{name} must be {expected}; got {describe(value)}"
    return f"{text}. {fix}" if fix else text


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _bounds(above: float | None, at_least: float | None, below: float | None, at_most: float | None) -> str:
    parts = []
    if above is not None:
        parts.append(f"> {describe(above)}")
    if at_least is not None:
        parts.append(f">= {describe(at_least)}")
    if below is not None:
        parts.append(f"< {describe(below)}")
    if at_most is not None:
        parts.append(f"<= {describe(at_most)}")
    return " and ".join(parts)


def _in_bounds(v: Any, above: float | None, at_least: float | None, below: float | None,
               at_most: float | None) -> Any:
    ok = np.ones(np.shape(v), dtype=bool)
    if above is not None:
        ok &= v > above
    if at_least is not None:
        ok &= v >= at_least
    if below is not None:
        ok &= v < below
    if at_most is not None:
        ok &= v <= at_most
    return ok


def real(
    name: str,
    value: Any,
    *,
    above: float | None = None,
    at_least: float | None = None,
    below: float | None = None,
    at_most: float | None = None,
    allow_none: bool = False,
    fix: str | None = None,
) -> float | None:
    """``value`` as a finite float within the given bounds.

    Parameters
    ----------
    name : str
        The argument's name, as the caller spells it.
    value
        A real number: a Python or numpy int or float (not a bool, not a string).
    above, at_least, below, at_most : float, optional
        Strict and inclusive bounds.
    allow_none : bool, default False
        Let None through (returned as None): an argument that means "the default".
    fix : str, optional
        What to do instead, appended to the message.

    Returns
    -------
    float or None

    Raises
    ------
    ArgumentTypeError
        ``value`` is not a real number.
    ArgumentValueError
        ``value`` is NaN, infinite or outside the bounds.
    """
    if value is None and allow_none:
        return None
    bounds = _bounds(above, at_least, below, at_most)
    expected = "a finite number" + (f" {bounds}" if bounds else "")
    if not _is_real(value):
        raise ArgumentTypeError(name, _message(name, expected, value, fix))
    try:
        v = float(value)
    except OverflowError:  # an integer beyond float64 (10**400) is out of every range
        raise ArgumentValueError(name, _message(name, expected, value, fix)) from None
    if not math.isfinite(v) or not bool(_in_bounds(v, above, at_least, below, at_most)):
        raise ArgumentValueError(name, _message(name, expected, value, fix))
    return v


def real_array(
    name: str,
    value: Any,
    *,
    above: float | None = None,
    at_least: float | None = None,
    below: float | None = None,
    at_most: float | None = None,
    fix: str | None = None,
) -> np.ndarray:
    """``value`` (a number or an array of numbers) as a finite float64 array within the bounds.

    The message names the first offending element's index for arrays. Booleans,
    strings and objects are refused rather than converted.

    Raises
    ------
    ArgumentTypeError
        ``value`` does not hold real numbers.
    ArgumentValueError
        An element is NaN, infinite or outside the bounds.
    """
    bounds = _bounds(above, at_least, below, at_most)
    expected = "finite numbers" + (f" {bounds}" if bounds else "")
    if isinstance(value, (str, bytes)):
        raise ArgumentTypeError(name, _message(name, expected, value, fix))
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError):
        raise ArgumentTypeError(name, _message(name, expected, value, fix)) from None
    if raw.dtype.kind not in "iuf":
        raise ArgumentTypeError(name, _message(name, expected, value, fix))
    arr = raw.astype(np.float64, copy=False)
    ok = np.isfinite(arr) & _in_bounds(arr, above, at_least, below, at_most)
    if not ok.all():
        if arr.ndim == 0:
            raise ArgumentValueError(name, _message(name, expected, value, fix))
        index = tuple(int(i) for i in np.argwhere(~ok)[0])
        where = index[0] if len(index) == 1 else index
        raise ArgumentValueError(
            name, _message(f"{name}", expected, value, None)
            + f"; element {where} is {describe(arr[index])}" + (f". {fix}" if fix else "")
        )
    return arr


def integer(
    name: str,
    value: Any,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    allow_none: bool = False,
    fix: str | None = None,
) -> int | None:
    """``value`` as a Python int within ``[minimum, maximum]``.

    A float is refused even when whole (``2.0`` epochs is most likely a
    misplaced argument), as are booleans and strings.

    Raises
    ------
    ArgumentTypeError
        ``value`` is not an integer.
    ArgumentValueError
        ``value`` is outside ``[minimum, maximum]``.
    """
    if value is None and allow_none:
        return None
    bounds = _bounds(None, minimum, None, maximum)
    expected = "an integer" + (f" {bounds}" if bounds else "")
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(name, _message(name, expected, value, fix))
    v = int(value)
    if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
        raise ArgumentValueError(name, _message(name, expected, value, fix))
    return v


def seed(name: str, value: Any, *, count: int = 1) -> int:
    """A seed in ``[0, MAX_SEED]``; with ``count``, seeds ``value .. value + count - 1`` all are.

    A seed outside the generators' range would be reduced modulo it and
    silently train another seed's network, so it is refused.
    """
    top = MAX_SEED - (count - 1)
    fix = None if count == 1 else (f"{count} trials use the seeds {name} to {name} + {count - 1}, and the "
                                   f"last must not pass {MAX_SEED}")
    result = integer(name, value, minimum=0, maximum=top, fix=fix)
    assert result is not None
    return result


def choice(name: str, value: Any, options: Iterable[Any], *, fix: str | None = None) -> Any:
    """``value`` if it is one of ``options``; else an error listing them (and the closest, if any)."""
    options = tuple(options)
    try:
        if value in options:
            return value
    except TypeError:  # an unhashable or incomparable value is no option
        pass
    listed = ", ".join(repr(o) for o in options)
    text = _message(name, f"one of {listed}", value, None)
    if isinstance(value, str):
        close = difflib.get_close_matches(value, [o for o in options if isinstance(o, str)], n=1)
        if close:
            text += f" (did you mean {close[0]!r}?)"
    if fix:
        text += f". {fix}"
    kinds = tuple({type(o) for o in options})
    error = ArgumentValueError if value is None or isinstance(value, kinds) else ArgumentTypeError
    raise error(name, text)


def flag(name: str, value: Any) -> bool:
    """``value`` as a bool: only True or False (numpy's included), never a number or a string."""
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(name, _message(name, "True or False", value, None))
    return bool(value)


_BYTE_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
               "KI": 2**10, "MI": 2**20, "GI": 2**30, "TI": 2**40}  # fmt: skip
_BYTE_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGT]I?)?B?\s*", re.IGNORECASE)


def byte_size(name: str, value: Any) -> int:
    """A memory size in bytes: an integer >= 1, or a text such as ``"141GB"``, ``"80 GiB"``, ``"1.5TB"``.

    ``kB``, ``MB``, ``GB``, ``TB`` are powers of 1000, ``KiB`` to ``TiB``
    powers of 1024 (as GPU makers and ``nvidia-smi`` state them, in turn);
    a bare number counts bytes. A size below one byte is refused.
    """
    expected = "a size such as 141GB, 80GiB or a number of bytes >= 1"
    if isinstance(value, str):
        match = _BYTE_SIZE.fullmatch(value)
        if match is None:
            raise ArgumentValueError(name, _message(name, expected, value, None))
        size = float(match.group(1)) * _BYTE_UNITS[(match.group(2) or "").upper()]
        if not size >= 1:
            raise ArgumentValueError(name, _message(name, expected, value, None))
        return int(size)
    result = integer(name, value, minimum=1, fix="Or give a text such as '141GB'")
    assert result is not None
    return result

"""Canonical JSON form of trial configs and the cache key derived from it.

The canonical form must not depend on anything but the config's values: not on
dict insertion order, on the process (hash seed), on whether a number is a
numpy or a Python scalar, or on tuple versus list. Two configs that compare
equal get the same key; changing any field changes it.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
import pathlib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np

#: Version of the on-disk result format and of the cache key recipe. Bumping it
#: gives every trial a new key, so old stores are never read with a new meaning.
RESULT_FORMAT_VERSION = 5

#: Key under which a dataclass's class name is recorded in its canonical dict.
DATACLASS_MARKER = "__dataclass__"
#: Key of the one-entry dict that stands for a non-finite float (JSON has none).
FLOAT_MARKER = "__float__"
#: Dataclass field metadata (``field(default=..., metadata={KEY_OMITS_DEFAULT: True})``):
#: the field is left out of the canonical form while it holds its default. An
#: option added later whose default computes what the config computed before
#: keeps every stored key; any other value enters the key as usual.
KEY_OMITS_DEFAULT = "repdyn.sweep.key_omits_default"


def canonical_value(value: Any, *, _path: str = "config") -> Any:
    """Return ``value`` as plain JSON data: dicts with str keys, lists, scalars.

    Parameters
    ----------
    value
        A dataclass instance, a mapping with str keys, or a (nested) structure
        of those, lists, tuples, numpy arrays and scalars, str, bool, None,
        enums and paths.

    Returns
    -------
    object
        Dataclasses become dicts with their class name under ``"__dataclass__"``
        (fields marked :data:`KEY_OMITS_DEFAULT` that hold their default left out);
        tuples and arrays become lists; numpy scalars become Python scalars;
        ``-0.0`` becomes ``0.0`` (they compare equal); NaN and infinities become
        ``{"__float__": "nan" | "inf" | "-inf"}``.

    Raises
    ------
    TypeError
        If a value has no canonical form (say a set, a function or a tensor), or
        a mapping has a non-str key. The message names the offending path.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, enum.Enum):
        return {
            "__enum__": type(value).__qualname__,
            "value": canonical_value(value.value, _path=_path),
        }
    if isinstance(value, np.generic):
        return canonical_value(value.item(), _path=_path)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value) + 0.0  # + 0.0 turns -0.0 into 0.0
        return {FLOAT_MARKER: "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {DATACLASS_MARKER: type(value).__qualname__}
        for field in dataclasses.fields(value):
            if field.metadata.get(KEY_OMITS_DEFAULT) and getattr(value, field.name) == field.default:
                continue
            out[field.name] = canonical_value(
                getattr(value, field.name), _path=f"{_path}.{field.name}"
            )
        return out
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(
                    f"{_path} has the key {k!r} of type {type(k).__name__}; config mappings need "
                    "str keys (JSON has no other kind), so convert the key with str()"
                )
            out[k] = canonical_value(v, _path=f"{_path}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [canonical_value(v, _path=f"{_path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(
                f"{_path} is a numpy array of dtype {value.dtype}; only numeric arrays are allowed"
            )
        return canonical_value(value.tolist(), _path=_path)
    if isinstance(value, pathlib.PurePath):
        return str(value)
    raise TypeError(
        f"{_path} has type {type(value).__name__}, which has no canonical JSON form; configs may "
        "hold dataclasses, dicts with str keys, lists, tuples, numeric arrays, int, float, str, "
        "bool, None, enums and paths (use a tuple instead of a set)"
    )


def canonical_json(config: Any) -> str:
    """The canonical JSON text of ``config``: sorted keys, no whitespace.

    Floats are written with ``repr``, so they read back to the same float.
    See :func:`canonical_value` for what a config may hold.
    """
    return json.dumps(
        canonical_value(config), sort_keys=True, separators=(",", ":"), allow_nan=False
    )


_Trial = TypeVar("_Trial", bound=Callable[..., Any])

#: Attribute that holds a trial function's stable name (set by :func:`trial`).
TRIAL_NAME_ATTRIBUTE = "trial_id"


def trial(name: str) -> Callable[[_Trial], _Trial]:
    """Give a trial function a stable name: the name that enters its cache key and labels its stored results.

    Without one, a trial is named by its module path and qualified name, so
    moving the function to another module gives every stored result a new key.
    A stable name survives moves and renames; change it (or the function's
    ``result_version``) only when what the trial computes changes.

    Parameters
    ----------
    name : str
        A short name, unique among the trials that share a store (``"two-point"``).

    Examples
    --------
    >>> @trial("square")
    ... def square(config):
    ...     return {"value": config["x"] ** 2}
    >>> trial_name(square)
    'square'
    """
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise TypeError(f"name must be a non-empty string without surrounding spaces; got {name!r}")

    def name_it(fn: _Trial) -> _Trial:
        setattr(fn, TRIAL_NAME_ATTRIBUTE, name)
        return fn

    return name_it


def trial_name(fn: Callable[..., Any]) -> str:
    """The name that identifies a trial function: its stable name (:func:`trial`), else ``module.qualname``.

    Raises
    ------
    TypeError
        If ``fn`` is not a plain named function (a lambda, a ``functools.partial``,
        a function defined inside another function): worker processes could not
        import it and the name would not identify it.
    """
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not callable(fn) or module is None or qualname is None:
        raise TypeError(
            f"fn must be a function defined at the top level of a module; got {fn!r}. "
            "Move parameters bound with functools.partial into the config instead"
        )
    if "<lambda>" in qualname or "<locals>" in qualname:
        raise TypeError(
            f"fn must be defined at the top level of a module so worker processes can import "
            f"it; {module}.{qualname} is a lambda or a function defined inside another function"
        )
    stable = getattr(fn, TRIAL_NAME_ATTRIBUTE, None)
    return stable if isinstance(stable, str) else f"{module}.{qualname}"


def cache_key(fn: Callable[..., Any], config: Any) -> str:
    """The cache key of trial ``fn`` run on ``config``: a 64-character sha256 hex digest.

    The key hashes the canonical JSON of the config, the trial's name (:func:`trial_name`),
    :data:`RESULT_FORMAT_VERSION` and, when the function has one, its
    ``result_version`` attribute (bump it when the trial's code changes what it
    computes, so that old cached results are not reused).
    """
    payload = {
        "config": canonical_value(config),
        "format": RESULT_FORMAT_VERSION,
        "trial": trial_name(fn),
        "trial_version": canonical_value(
            getattr(fn, "result_version", None), _path="fn.result_version"
        ),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

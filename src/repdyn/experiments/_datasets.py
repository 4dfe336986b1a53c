"""The paper's data-set experiments: the networks of Table 2."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from repdyn.nets import ArchSpec, get_architecture


def table2_networks(task: str, roles: Sequence[str], changes: Sequence[Mapping[str, Any]] | None = None, *,
                    lr_factor: float = 1.0) -> tuple[ArchSpec, ...]:
    """Table 2's networks of one data-set task, one per role, with a profile's changes.

    Parameters
    ----------
    task : {"xor", "blobs"}
        The task; the network of role ``r`` is the registered architecture
        ``"<task> <r>"`` (see :mod:`repdyn.nets`).
    roles : sequence of str
        The roles, e.g. ``("low", "intermediate", "high", "2 layers")``.
    changes : sequence of dict, optional
        Per role (same order), the ``ArchSpec`` fields to change; none by default.
    lr_factor : float, default 1.0
        Factor on every network's learning rate (the linear scaling rule of a
        larger minibatch).
    """
    changes = [{}] * len(roles) if changes is None else list(changes)
    if len(changes) != len(roles):
        raise ValueError(f"changes must hold one dict per role {tuple(roles)}; got {len(changes)}")
    specs = [get_architecture(f"{task} {role}") for role in roles]
    return tuple(s.replace(lr=s.lr * lr_factor, **c) for s, c in zip(specs, changes))

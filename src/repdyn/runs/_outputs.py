"""Writing an experiment's outputs: JSON summaries, figures and representations (trial data: ``_run_data``).

Every file a run or a command writes goes through :func:`atomic_path`, so that
it appears whole or not at all: a full disk, a killed process or an exception
mid-write leaves the earlier file (or none), never a truncated one.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repdyn.vocabulary import json_ready


@dataclass
class RunOutput:
    """What a run returns: its JSON-able summary, the figures it drew and its trials' status counts."""

    summary: dict[str, Any]
    figures: list[Path] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


#: Characters of the final name kept in a temporary name: the temporary name
#: adds about 25, and a file system's names end at 255 bytes.
_TMP_NAME_KEPT = 100


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to, renamed over ``path`` when the block ends without error.

    The file at ``path`` appears whole or not at all: when the block raises
    (a full disk, a failed figure, an interrupt) the temporary file is removed
    and an earlier ``path`` is left as it was. The temporary name ends with
    ``path``'s suffix, so writers that choose a format by the suffix
    (matplotlib) or add a missing one (``np.save``, ``np.savez``) write the
    intended format to the temporary name itself. Missing parent directories
    are created.

    Parameters
    ----------
    path : Path
        The file to write.

    Yields
    ------
    Path
        Where to write it (a hidden name in the same directory, so the final
        rename stays on one file system).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_path(folder / "table.csv") as tmp:
    ...     _ = tmp.write_text("a,b\\n1,2\\n")
    >>> sorted(p.name for p in folder.iterdir())
    ['table.csv']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name[:_TMP_NAME_KEPT]}.{os.getpid()}-{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def retire_index(path: Path) -> None:
    """Remove a run's index file (the summary that lists and describes its other files) before they are written.

    The index is written last, after every file it describes: a run that
    fails midway then leaves no index beside a mix of its own files and an
    earlier run's, and a reader of the directory sees that it is incomplete.
    """
    Path(path).unlink(missing_ok=True)


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (:func:`atomic_path`), as UTF-8."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_json(path: Path, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically (NaN and inf as null: :func:`repdyn.vocabulary.json_ready`)."""
    return write_text(path, json.dumps(json_ready(data), indent=2) + "\n")


def write_figure(fig: Any, path: Path, **options: Any) -> Path:
    """Save ``fig`` to ``path`` atomically (the format from the suffix; ``options`` go to ``savefig``)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, **options)
    return path


def png_data_uri(path: Path) -> str:
    """A PNG file as a ``data:`` URI, so an HTML report keeps its figures when it is moved."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def save_figure(fig: Any, out: Path, stem: str) -> list[Path]:
    """Save ``fig`` as PNG (for the report) and PDF (for papers); close it."""
    import matplotlib.pyplot as plt

    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    try:
        write_figure(fig, paths[0], dpi=150, bbox_inches="tight")
        write_figure(fig, paths[1], bbox_inches="tight")
    finally:
        plt.close(fig)
    return paths


def save_representations(path: Path, *, x: np.ndarray, y: np.ndarray, labels: np.ndarray, hidden: np.ndarray,
                         hidden0: np.ndarray, output0: np.ndarray, name: str) -> Path:
    """Write one trained network's representations as the ``.npz`` that ``repdyn predict --compare`` reads.

    Parameters
    ----------
    path : Path
        The file (``representations-<name>.npz`` by convention: ``--compare``
        given an experiment's directory looks for that pattern).
    x, y, labels : ndarray
        The points: inputs (N, d_in), targets (N, d_out) and labels (N,).
    hidden, hidden0 : ndarray
        Final and initial representations of the points at one layer, (N, units).
    output0 : ndarray
        The network's initial outputs (N, d_out), for the initial-state prediction.
    name : str
        What the file holds, in words (stored as the array ``name``).
    """
    with atomic_path(path) as tmp:
        np.savez(tmp, x=x, y=y, labels=labels, hidden=hidden, hidden0=hidden0, output0=output0,
                 name=np.array(name))
    return path

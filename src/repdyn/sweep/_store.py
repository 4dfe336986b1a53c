"""An on-disk store of trial results, one file per cache key, written atomically.

Layout: ``DIR/<key[:2]>/<key>.npz``. Each entry is a zip archive that
``numpy.load`` reads too: one ``<field>.npy`` member per array field and a
``meta.json`` member with the scalar fields, the config, the trial's name and
the format version. An entry is first written to a temporary file in the same
directory, flushed to disk, then renamed over its final name, so a reader sees
either no entry or a complete one, never a partial one.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import json
import os
import re
import socket
import time
import uuid
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from repdyn.sweep._canonical import RESULT_FORMAT_VERSION, canonical_value
from repdyn.sweep._trial import check_result

_KEY_RE = re.compile(r"[0-9a-f]{16,128}")
_ENTRY_RE = re.compile(r"([0-9a-f]{16,128})\.npz")
_SHARD_RE = re.compile(r"[0-9a-f]{2}")
_TMP_PREFIX = ".tmp-"
_CLAIM_SUFFIX = ".claim"
_META = "meta.json"
#: Temporary files of another host (whose processes we cannot check) older than
#: this are taken to be left over from a crash.
_STALE_SECONDS = 24 * 3600.0
#: An empty claim younger than this is being written (where the file system
#: has no hard links a claim is created empty, then filled); older, it is garbage.
_WRITING_SECONDS = 30.0


class SweepWarning(UserWarning):
    """Something went wrong that the sweep worked around (a corrupt entry, failed trials)."""


@dataclasses.dataclass(frozen=True)
class StoredResult:
    """One entry of a :class:`ResultStore`.

    Attributes
    ----------
    key : str
        The cache key.
    result : dict
        The trial's result: scalar fields and numpy arrays.
    config : object
        The config in canonical form (see :func:`repdyn.sweep.canonical_value`),
        or None if it was stored without one.
    trial : str or None
        Qualified name of the trial function.
    seconds : float or None
        Wall time of the trial call, measured by the sweep.
    created : str
        UTC time the entry was written, ISO 8601.
    """

    key: str
    result: dict[str, Any]
    config: Any
    trial: str | None
    seconds: float | None
    created: str


class ResultStore:
    """A directory of trial results keyed by cache key; safe against crashes.

    Parameters
    ----------
    directory : str or Path
        Where entries live; created if missing.
    clean : bool, default True
        Remove temporary files left behind by writers that were killed (see
        :meth:`clean`) when the store is opened.
    fsync : bool, default True
        Flush every entry (and its directory) to the disk before and after the
        rename. Without it, writes are still atomic against a killed process,
        but an OS crash or power cut may lose the latest entries; writes get
        about ten times cheaper (roughly 8 ms against 0.8 ms here), which
        matters only for trials that take milliseconds.

    Notes
    -----
    A sweep claims a key before it computes it (:meth:`claim`): a lock file
    ``DIR/<key[:2]>/<key>.claim`` naming the owner's host and pid, created
    atomically, removed by :meth:`release` once the entry is written. Several
    sweeps sharing a store thus split the work instead of computing every
    trial once each. A claim whose owner is gone (same host, dead pid; another
    host's claim older than a day) is stale and is taken over.

    Only complete entries are ever visible: :meth:`put` writes a temporary file
    beside the entry, fsyncs it and renames it into place. An entry that cannot
    be read (disk corruption, a foreign file) is reported with a
    :class:`SweepWarning`, moved to ``DIR/corrupt/`` and treated as missing.
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, clean: bool = True, fsync: bool = True
    ) -> None:
        self.directory = Path(directory)
        self.fsync = fsync
        if self.directory.exists() and not self.directory.is_dir():
            raise ValueError(
                f"directory={str(self.directory)!r} exists and is not a directory; pass a "
                "directory path for the result store"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        if clean:
            self.clean()

    def __repr__(self) -> str:
        return f"ResultStore({str(self.directory)!r})"

    # -- paths -----------------------------------------------------------------

    def path(self, key: str) -> Path:
        """The file that holds (or would hold) the entry for ``key``."""
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            raise ValueError(
                f"key must be a lowercase hex cache key (see repdyn.sweep.cache_key); got {key!r}"
            )
        return self.directory / key[:2] / f"{key}.npz"

    def _shards(self) -> Iterator[Path]:
        with os.scandir(self.directory) as it:
            for item in it:
                if _SHARD_RE.fullmatch(item.name) and item.is_dir():
                    yield Path(item.path)

    # -- writing ---------------------------------------------------------------

    def put(
        self,
        key: str,
        result: Mapping[str, Any],
        *,
        config: Any = None,
        trial: str | None = None,
        seconds: float | None = None,
    ) -> None:
        """Store ``result`` under ``key`` atomically, replacing any older entry.

        Parameters
        ----------
        key : str
            Cache key, from :func:`repdyn.sweep.cache_key`.
        result : mapping
            Flat dict of JSON scalars and numpy arrays.
        config : optional
            The trial's config; it is stored in canonical form so that tables
            can be built from the store alone.
        trial : str, optional
            Qualified name of the trial function.
        seconds : float, optional
            Wall time of the trial call.
        """
        final = self.path(key)
        result = check_result(result)
        arrays = {name: v for name, v in result.items() if isinstance(v, np.ndarray)}
        meta = {
            "format": RESULT_FORMAT_VERSION,
            "key": key,
            "trial": trial,
            "config": None if config is None else canonical_value(config),
            "scalars": {name: v for name, v in result.items() if name not in arrays},
            "arrays": {
                name: {"dtype": v.dtype.str, "shape": list(v.shape)} for name, v in arrays.items()
            },
            "seconds": None if seconds is None else float(seconds),
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        # NaN and inf scalars (a diverged loss) are written as Python's json does.
        meta_bytes = json.dumps(meta, sort_keys=True, indent=1).encode("utf-8")

        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp_name(final.parent, ".npz")
        try:
            with open(tmp, "wb") as fh:
                with zipfile.ZipFile(
                    fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True
                ) as zf:
                    zf.writestr(_META, meta_bytes)
                    for name, arr in arrays.items():
                        with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                            np.lib.format.write_array(member, arr, allow_pickle=False)
                fh.flush()
                if self.fsync:
                    os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if self.fsync:
            _fsync_dir(final.parent)

    def remove(self, key: str) -> bool:
        """Delete the entry for ``key``; return whether there was one."""
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def clean(self) -> int:
        """Delete temporary files left by writers that died mid-write; return how many.

        A temporary file is stale when the process that wrote it (named in the
        file name) no longer runs on this host, or, for another host, when it
        is older than a day. Files of live writers are left alone, so several
        sweeps may share one store.
        """
        removed = 0
        host = socket.gethostname()
        now = time.time()
        for shard in self._shards():
            for tmp in shard.glob(f"{_TMP_PREFIX}*"):
                try:
                    writer_host, pid_text, _ = tmp.name[len(_TMP_PREFIX) :].rsplit("-", 2)
                    pid = int(pid_text)
                except ValueError:
                    writer_host, pid = "", -1
                if writer_host == host and pid > 0:
                    stale = not _pid_alive(pid)
                else:
                    try:
                        stale = now - tmp.stat().st_mtime > _STALE_SECONDS
                    except FileNotFoundError:
                        continue
                if stale:
                    tmp.unlink(missing_ok=True)
                    removed += 1
        return removed

    # -- claims ----------------------------------------------------------------

    def claim_path(self, key: str) -> Path:
        """The lock file that marks ``key`` as being computed."""
        return self.path(key).with_suffix(_CLAIM_SUFFIX)

    def claim(self, key: str) -> bool:
        """Claim ``key`` for this process; False if a live owner (another sweep) holds it.

        The claim is a file holding ``{"host", "pid", "token", "created"}``,
        written to a temporary name and hard-linked to its final name, which
        fails if a claim exists: of two sweeps racing for a key exactly one
        wins. A claim of this process is claimed again (True). A stale claim
        (see :meth:`claim_is_stale`) is taken over. Two sweeps that take over
        the same stale claim at the same instant may both win: the trial is then
        computed twice, which wastes time but loses nothing.
        """
        path = self.claim_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        host, pid = socket.gethostname(), os.getpid()
        for _ in range(3):
            mine = {"host": host, "pid": pid, "token": uuid.uuid4().hex,
                    "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
            if _create_exclusive(path, json.dumps(mine).encode(), self._tmp_name(path.parent, _CLAIM_SUFFIX)):
                return True
            owner = _read_claim(path)
            if owner is None and not path.exists():
                continue  # released meanwhile: try again
            if owner is not None and owner.get("host") == host and owner.get("pid") == pid:
                return True
            if not self.claim_is_stale(key, owner):
                return False
            self._take_over(path, owner)
        return False

    def claim_owner(self, key: str) -> dict[str, Any] | None:
        """The claim on ``key`` (host, pid, token, created), or None if unclaimed or unreadable."""
        return _read_claim(self.claim_path(key))

    def claim_is_stale(self, key: str, owner: dict[str, Any] | None = None) -> bool:
        """Whether the claim on ``key`` belongs to no running sweep (False if there is none).

        Same host: the owner's pid no longer runs, or a process that started
        after the claim was written now has that pid (the pid was reused, as
        after a restart). Another host (whose processes cannot be checked): the
        claim is older than a day. A claim whose content is no claim (garbage,
        or empty for more than ``_WRITING_SECONDS``) is stale, with a
        :class:`SweepWarning` naming the file.
        """
        path = self.claim_path(key)
        owner = _read_claim(path) if owner is None else owner
        try:
            stat = path.stat()
        except FileNotFoundError:
            return False
        if owner is None:
            if stat.st_size == 0 and time.time() - stat.st_mtime < _WRITING_SECONDS:
                return False
            warnings.warn(f"the claim file {path} does not hold a claim (host, pid) that repdyn writes; "
                          "treating it as left over and computing its trial", SweepWarning, stacklevel=2)
            return True
        if owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int):
            pid = owner["pid"]
            if not _pid_alive(pid):
                return True
            return _started_after(pid, owner.get("created"))
        return time.time() - stat.st_mtime > _STALE_SECONDS

    def take_over(self, key: str) -> None:
        """Claim ``key`` for this process whoever holds it (after waiting for it in vain)."""
        path = self.claim_path(key)
        self._take_over(path, _read_claim(path))
        if not self.claim(key):
            warnings.warn(f"could not take over the claim {path}; its trial may be computed twice",
                          SweepWarning, stacklevel=2)

    def release(self, key: str) -> None:
        """Remove this process's claim on ``key`` (another owner's claim is left alone)."""
        path = self.claim_path(key)
        owner = _read_claim(path)
        if owner is not None and owner.get("host") == socket.gethostname() and owner.get("pid") == os.getpid():
            path.unlink(missing_ok=True)

    def _take_over(self, path: Path, stale: dict[str, Any] | None) -> None:
        """Move the stale claim ``stale`` out of the way (not a fresh claim that replaced it)."""
        aside = self._tmp_name(path.parent, _CLAIM_SUFFIX)
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return
        if _read_claim(aside) != stale:
            # Someone replaced the stale claim first: put theirs back.
            try:
                os.link(aside, path)
            except OSError:
                pass
        aside.unlink(missing_ok=True)

    @staticmethod
    def _tmp_name(directory: Path, suffix: str) -> Path:
        """A temporary file name that :meth:`clean` can attribute to this process."""
        return directory / f"{_TMP_PREFIX}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}"

    # -- reading ---------------------------------------------------------------

    def __contains__(self, key: object) -> bool:
        """Whether an entry file exists for ``key`` (not whether it is readable)."""
        return (
            isinstance(key, str) and _KEY_RE.fullmatch(key) is not None and self.path(key).is_file()
        )

    def keys(self) -> list[str]:
        """Sorted keys of all entries (temporary and quarantined files excluded)."""
        found = []
        for shard in self._shards():
            with os.scandir(shard) as it:
                for item in it:
                    match = _ENTRY_RE.fullmatch(item.name)
                    if match and match.group(1).startswith(shard.name):
                        found.append(match.group(1))
        return sorted(found)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def get(self, key: str, default: Any = None) -> dict[str, Any] | Any:
        """The stored result for ``key``, or ``default`` if missing or unreadable."""
        entry = self.entry(key)
        return default if entry is None else entry.result

    def entry(self, key: str, *, arrays: bool = True) -> StoredResult | None:
        """The full entry for ``key`` (result, config, trial name), or None.

        With ``arrays=False`` only the scalar fields are read (cheap, for tables).
        An unreadable entry triggers a :class:`SweepWarning`, is moved to
        ``DIR/corrupt/`` and reads as None, so a sweep recomputes it.
        """
        path = self.path(key)
        try:
            return _read_entry(path, key, arrays=arrays)
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - any unreadable file is quarantined, not fatal
            moved = self._quarantine(path, key)
            warnings.warn(
                f"result store entry {path} is unreadable ({type(exc).__name__}: {exc}); treating "
                f"it as missing" + (f" (moved to {moved})" if moved else ""),
                SweepWarning,
                stacklevel=2,
            )
            return None

    def entries(self, *, arrays: bool = True) -> Iterator[StoredResult]:
        """Every readable entry, in key order (unreadable ones are reported and skipped).

        With ``arrays=False`` only the scalar fields of each result are read.
        """
        for key in self.keys():
            entry = self.entry(key, arrays=arrays)
            if entry is not None:
                yield entry

    def load_all(self, *, arrays: bool = True) -> list[StoredResult]:
        """All readable entries as a list, in key order (see :meth:`entries`)."""
        return list(self.entries(arrays=arrays))

    def _quarantine(self, path: Path, key: str) -> Path | None:
        target_dir = self.directory / "corrupt"
        target = target_dir / f"{key}.{uuid.uuid4().hex[:8]}.npz"
        try:
            target_dir.mkdir(exist_ok=True)
            os.replace(path, target)
        except OSError:
            return None
        return target


def _read_entry(path: Path, key: str, *, arrays: bool = True) -> StoredResult:
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read(_META).decode("utf-8"))
        if meta.get("format") != RESULT_FORMAT_VERSION:
            raise ValueError(
                f"format version {meta.get('format')!r}, expected {RESULT_FORMAT_VERSION}"
            )
        if meta.get("key") != key:
            raise ValueError(f"entry records the key {meta.get('key')!r}")
        result: dict[str, Any] = dict(meta["scalars"])
        for name, spec in meta["arrays"].items() if arrays else ():
            # zf.read checks the member's CRC, so flipped bits are caught here.
            arr = np.lib.format.read_array(io.BytesIO(zf.read(f"{name}.npy")), allow_pickle=False)
            if arr.dtype.str != spec["dtype"] or list(arr.shape) != spec["shape"]:
                raise ValueError(f"array {name!r} does not match its recorded dtype and shape")
            result[name] = arr
    return StoredResult(
        key=key,
        result=result,
        config=meta.get("config"),
        trial=meta.get("trial"),
        seconds=meta.get("seconds"),
        created=meta.get("created", ""),
    )


def _create_exclusive(path: Path, content: bytes, tmp: Path) -> bool:
    """Create ``path`` holding ``content`` unless it exists; atomic, and never seen half written.

    The content goes to ``tmp`` first and is hard-linked to ``path``; where the
    file system has no hard links, ``O_EXCL`` creation is used instead (a reader
    may then briefly see an empty claim, which counts as live).
    """
    tmp.write_bytes(content)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
    return True


def _read_claim(path: Path) -> dict[str, Any] | None:
    """The claim in ``path``: a dict with a host (str) and a pid (int); None if there is none."""
    try:
        owner = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not (isinstance(owner, dict) and isinstance(owner.get("host"), str) and isinstance(owner.get("pid"), int)
            and not isinstance(owner.get("pid"), bool)):
        return None
    return owner


def _started_after(pid: int, created: Any) -> bool:
    """Whether process ``pid`` started after ``created`` (an ISO time), so that it cannot
    have written a claim then; False where either is unknown (not on Linux)."""
    try:
        claimed = datetime.datetime.fromisoformat(str(created)).timestamp()
        with open(f"/proc/{pid}/stat", "rb") as fh:
            # The command name (field 2) may hold spaces; the fields after it are plain.
            ticks = int(fh.read().rsplit(b")", 1)[1].split()[19])
        with open("/proc/stat", "rb") as fh:
            boot = next(int(line.split()[1]) for line in fh if line.startswith(b"btime"))
    except (OSError, ValueError, IndexError, StopIteration):
        return False
    started = boot + ticks / os.sysconf("SC_CLK_TCK")
    # Both times are whole seconds at best.
    return started > claimed + 2.0


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":
        # Our own writes are in flight; on Windows os.kill would terminate the process.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every platform.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

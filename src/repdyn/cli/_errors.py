"""Bad input at the command line: one clear message naming the option and the fix, exit status 2.

Every command checks what it can before it computes or writes anything, so a
bad command line leaves nothing half written. The checks here speak the
command line's language: option names (``--h0``, not ``z0[..., 0]``) and plain
numbers (``-1.0``, not ``np.float64(-1.0)``).

Exit statuses of every command: 0 done, 1 done but something the user asked
for failed (a trial errored, a fit did not converge or does not describe the
data), 2 bad input (nothing computed).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer

_F = TypeVar("_F", bound=Callable[..., Any])

#: Exit status of a command whose run finished but whose result is incomplete
#: or failed (some trial errored, a fit did not converge).
EXIT_FAILED = 1
#: Exit status of bad input (click's own status for usage errors).
EXIT_BAD_INPUT = 2
#: Exit status of a command interrupted by the user (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
#: Failed reads and writes whose cause is the user's machine or paths, not repdyn:
#: reported as one message naming the file, never as a traceback.
USER_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENAMETOOLONG,
                         errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ELOOP, errno.EFBIG})
#: Estimated waits above this many seconds are announced before they start.
ANNOUNCED_WAIT = 60.0


def fail(message: str) -> NoReturn:
    """Report bad input on stderr and exit with status 2."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def plain(value: Any) -> str:
    """A number as a user typed it: ``-1.0``, ``inf``, ``nan`` (never ``np.float64(-1.0)``)."""
    from repdyn.checks import describe

    return describe(value)


def option_name(parameter: str, names: Mapping[str, str] | None = None) -> str:
    """The command-line option of a Python parameter: ``lr`` -> ``--lr``, ``record_every`` -> ``--record-every``.

    ``names`` gives the exceptions (``{"data": "--dataset"}``); an indexed
    parameter (``pair[0]``) is its option.
    """
    base = parameter.split("[", 1)[0].split(".", 1)[0]
    if names and base in names:
        return names[base]
    return "--" + base.replace("_", "-")


def bad_argument(exc: Any, names: Mapping[str, str] | None = None) -> NoReturn:
    """Report a :class:`repdyn.checks.BadArgument` as the command line's bad input: the option named, exit 2."""
    option = option_name(exc.parameter, names)
    text = str(exc)
    base = exc.parameter.split("[", 1)[0]
    # The message starts with the parameter's name; the command line says the option's instead.
    text = option + text[len(base):] if text.startswith(base) else f"{option}: {text}"
    fail(text)


def checked(names: Mapping[str, str] | None = None) -> Callable[[_F], _F]:
    """Decorate a command so that any :class:`repdyn.checks.BadArgument` it raises exits 2, naming the option.

    The one place where Python's parameter names become option names; ``names``
    lists a command's exceptions to ``--parameter-name``.
    """

    def decorate(command: _F) -> _F:
        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            from repdyn.checks import BadArgument

            try:
                return command(*args, **kwargs)
            except BadArgument as exc:
                bad_argument(exc, names)

        return run  # type: ignore[return-value]

    return decorate


def number(option: str, value: float | None, *, above: float | None = None,
           at_least: float | None = None) -> None:
    """Check that ``value`` (if given) is finite and ``> above`` / ``>= at_least`` (:func:`repdyn.checks.real`)."""
    from repdyn.checks import BadArgument, real

    try:
        real(option, value, above=above, at_least=at_least, allow_none=True)
    except BadArgument as exc:
        fail(str(exc))


def output_file(option: str, path: Path | None) -> None:
    """Check that ``path`` can be written as a file: not a directory, inside a writable directory."""
    if path is None:
        return
    _path_length(option, path)
    if path.is_dir():
        fail(f"{option} {path} is a directory; give a file name (e.g. {path / 'out'}{_suffix(option)})")
    _writable_parent(option, path.parent, path)


def output_dir(option: str, path: Path | None) -> None:
    """Check that ``path`` is, or can be created as, a writable directory."""
    if path is None:
        return
    _path_length(option, path)
    if path.exists() and not path.is_dir():
        fail(f"{option} {path} exists and is not a directory; give a directory (it is created if missing)")
    _writable_parent(option, path, path)


def _suffix(option: str) -> str:
    return ".png" if option == "--plot" else ".csv"


def _path_length(option: str, path: Path) -> None:
    """Refuse names longer than the file system allows: asking whether such a path exists raises, not answers."""
    too_long = next((part for part in path.parts if len(os.fsencode(part)) > _NAME_MAX), None)
    if too_long is not None:
        fail(f"{option} {str(path)[:60]}...: the name {too_long[:40]!r}... is {len(os.fsencode(too_long))} bytes "
             f"long; file systems allow {_NAME_MAX}; choose a shorter name")
    if len(os.fsencode(str(path.absolute()))) > _PATH_MAX:
        fail(f"{option} {str(path)[:60]}...: the path is longer than the {_PATH_MAX} bytes the system allows; "
             "choose a shorter path")


def _writable_parent(option: str, directory: Path, target: Path) -> None:
    """The first existing ancestor of ``directory`` (itself included) must be a writable directory."""
    probe = directory
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        fail(f"{option} {target}: {probe} is a file, so no directory can be made there; choose another path")
    if not os.access(probe, os.W_OK | os.X_OK):
        fail(f"{option} {target}: no permission to write in {probe}; choose a directory you can write to")


#: Longest file name and path (bytes) of common file systems (ext4, XFS, APFS) and of Linux.
_NAME_MAX, _PATH_MAX = 255, 4096


def wait(seconds: float, what: str, fix: str, *, option: str) -> None:
    """Refuse a run estimated to take longer than :data:`repdyn.runs.MAX_RUN_SECONDS`; announce a long one.

    ``what`` says which options set the length (``"--trials 1000 of 6000
    epochs"``), ``fix`` what to lower, ``option`` the option named when refused.
    """
    from repdyn.checks import BadArgument
    from repdyn.runs import format_seconds, require_time

    try:
        require_time(option, seconds, what, fix)
    except BadArgument as exc:
        fail(f"{option}: {exc}")
    if seconds > ANNOUNCED_WAIT:
        typer.echo(f"{what}: about {format_seconds(seconds)} on this machine (a rough estimate)", err=True)


def memory(needed: float, what: str, fix: str) -> None:
    """Reject a run whose estimated memory ``needed`` (bytes) exceeds what this machine has free.

    ``what`` says which options set the size (``"--epochs 1000000000"``),
    ``fix`` what to lower (:func:`repdyn.runs.require_memory`).
    """
    from repdyn.checks import BadArgument
    from repdyn.runs import require_memory

    try:
        require_memory("memory", needed, what, fix)
    except BadArgument as exc:
        fail(str(exc))


@contextlib.contextmanager
def write_errors(options: Mapping[str, Path | None]) -> Iterator[None]:
    """Turn a failed write (disk full, permission, read-only disk) into a clear error naming the option.

    ``options`` maps option names to the paths they set, so that the message
    names the option whose path the failed file lies under. Writes of entries
    and outputs are atomic, so every complete file written before the failure
    is kept.
    """
    try:
        yield
    except OSError as exc:
        if exc.errno not in USER_ERRNOS:
            raise
        filename = Path(exc.filename) if exc.filename else None
        option = next((name for name, path in options.items() if path is not None and filename is not None
                       and _under(filename, path)), "/".join(options))
        cause, fix = _write_failure(exc)
        where = f" writing {filename}" if filename else ""
        fail(f"{option}: {cause}{where}; {fix} for {option}. Every complete result written before is kept, "
             "and a rerun computes only what is missing")


def _write_failure(exc: OSError) -> tuple[str, str]:
    """Why a write failed and what to do, in words, for an OSError of :data:`USER_ERRNOS`."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return ("the disk is full (or the quota or file size limit is used up)",
                "free space there or choose another path")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"writing is not allowed ({exc.strerror})", "choose a directory you can write to"
    return f"{exc.strerror}", "choose another path"


@contextlib.contextmanager
def user_failures() -> Iterator[None]:
    """One message and no traceback for every failure the user's input or machine causes, around a whole command.

    The last net under every command (:mod:`repdyn.cli._main` wraps the root
    group in it): a :class:`repdyn.checks.BadArgument` no command caught
    (exit 2, the option named), a read or write that the machine refused
    (:data:`USER_ERRNOS`, exit 2, the file named), memory exhausted (exit 2),
    and Ctrl-C (exit 130). Anything else is a bug in repdyn and keeps its traceback.
    """
    from repdyn.checks import BadArgument

    try:
        yield
    except BadArgument as exc:
        bad_argument(exc)
    except OSError as exc:
        if exc.errno not in USER_ERRNOS:
            raise
        cause, fix = _write_failure(exc)
        where = f" ({exc.filename})" if exc.filename else ""
        fail(f"{cause}{where}; {fix}. Every complete file written before is kept")
    except MemoryError:
        fail("this machine ran out of memory; lower the size of the run (epochs, points, pairs, trials or "
             "workers)")
    except KeyboardInterrupt:
        typer.echo("Error: interrupted; every complete file written before is kept, and a rerun computes only "
                   "what is missing", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None


def read_npz(label: str, path: Path, *, example: str, text: tuple[str, ...] = ()) -> dict[str, Any]:
    """The numeric arrays of an ``.npz`` file; a clear error if it is missing, unreadable or not numeric.

    ``label`` names the argument or option (``TRAJ``, ``--dataset``) and
    ``example`` shows how to write a good file. The arrays named in ``text``
    may hold strings instead (a description such as the ``name`` of a
    representations file).
    """
    import zipfile

    import numpy as np

    if not path.is_file():
        fail(f"{label} {path} does not exist or is not a file; give an existing .npz file")
    reason = ""
    if not zipfile.is_zipfile(path):
        reason = "it is no zip archive: truncated, a .npy file, or not written by np.savez"
    else:
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
            reason = "it holds Python objects" if "pickled" in str(exc) else f"{type(exc).__name__}: {exc}"
    if reason:
        fail(f"{label} {path} is not a readable .npz archive of numeric arrays ({reason}); write it with "
             f"{example}")
    for key, arr in arrays.items():
        if arr.dtype.kind not in "biuf" and not (key in text and arr.dtype.kind in "US"):
            fail(f"{label} {path}: array {key!r} holds {arr.dtype} values, not numbers; save numeric arrays "
                 f"({example})")
    return arrays


def _under(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True

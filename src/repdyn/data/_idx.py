"""Reader for the IDX file format (the format of the MNIST distribution files).

An IDX file is: two zero bytes, one type byte, one byte with the number of
dimensions ``k``, then ``k`` big-endian uint32 sizes, then the values in
row-major order, big-endian. Files may be gzip-compressed.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

_GZIP_MAGIC = b"\x1f\x8b"

# IDX type byte -> big-endian numpy dtype.
_IDX_TYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        raise ValueError(
            f"{path}: gzip data is corrupt ({exc}); download or copy the file again"
        ) from exc


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (plain or gzip-compressed) into a numpy array.

    Parameters
    ----------
    path : str or path-like
        The file, e.g. ``train-images-idx3-ubyte`` or ``train-images-idx3-ubyte.gz``.
        Compression is detected from the content, not the name.

    Returns
    -------
    numpy.ndarray
        Array with the file's shape, in native byte order (uint8 for MNIST).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the header is not an IDX header or the data length does not match
        the sizes in the header (a truncated or corrupt file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"{path}: not an IDX file (the first two bytes must be zero; got {data[:4].hex() or 'empty'}). "
            "Check that you pointed to the MNIST IDX files, not to another format"
        )
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_TYPES:
        known = ", ".join(f"0x{k:02X}" for k in _IDX_TYPES)
        raise ValueError(
            f"{path}: unknown IDX type byte 0x{type_code:02X}; expected one of {known}"
        )
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares zero dimensions; the file is corrupt")
    header_end = 4 + 4 * ndim
    if len(data) < header_end:
        raise ValueError(
            f"{path}: file ends inside the IDX header (truncated); copy the file again"
        )
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[type_code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header_end
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise ValueError(
            f"{path}: header declares shape {shape} ({expected} data bytes) but the file holds "
            f"{actual} data bytes ({what}); the file is corrupt, copy it again"
        )
    values = np.frombuffer(data, dtype=dtype, offset=header_end).reshape(shape)
    return values.astype(dtype.newbyteorder("="))

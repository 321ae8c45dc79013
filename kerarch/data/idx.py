"""IDX files, the format of MNIST and Fashion-MNIST, plain or gzipped.

Layout (big-endian): two zero bytes, a dtype code, the number of dimensions,
one 4-byte size per dimension, then the values in row-major order.

Reference:
    LeCun, Cortes & Burges, "The MNIST database of handwritten digits",
    http://yann.lecun.com/exdb/mnist/ (section "File formats").
"""

import gzip
import math
import os
import tempfile
import zlib

import numpy as np

from kerarch.errors import KerarchError

_GZIP_MAGIC = b"\x1f\x8b"

# IDX dtype code -> big-endian numpy dtype.
_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder("="): code for code, dtype in _DTYPES.items()}


def read_idx(path):
    """Reads an IDX file, gzipped or plain (told apart by its first bytes).

    Args:
        path: file path.

    Returns:
        A numpy array in native byte order with the shape stored in the file.

    Raises:
        KerarchError: the file is unreadable, not valid gzip, or not a
            well-formed IDX file (bad magic number, unknown dtype code,
            truncated or extra data).
    """
    data = _read_bytes(path)
    dtype, shape, offset = _parse_header(path, data)
    expected = math.prod(shape) * dtype.itemsize  # Python ints: a corrupt header cannot overflow
    found = len(data) - offset
    if found != expected:
        problem = "is truncated" if found < expected else "has extra bytes after the data"
        raise KerarchError(
            f"IDX file {path} {problem}: the header announces shape {shape} "
            f"of {dtype.newbyteorder('=').name}, so expected {expected:,} bytes "
            f"of data, found {found:,}. Download or copy the file again."
        )
    array = np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path, array):
    """Writes `array` as an IDX file, gzipped when `path` ends in ".gz".

    The file is written under a temporary name in the same folder and then
    renamed, so readers never see a partial file.

    Args:
        path: file path.
        array: array-like of uint8, int8, int16, int32, float32 or float64
            with at least one dimension.

    Raises:
        KerarchError: the dtype or shape cannot be stored as IDX.
    """
    array = np.asarray(array)
    data = _header(path, array) + array.astype(array.dtype.newbyteorder(">")).tobytes()
    if os.fspath(path).endswith(".gz"):
        data = gzip.compress(data, compresslevel=6, mtime=0)
    _write_atomically(path, data)


def _read_bytes(path):
    """The file's bytes, decompressed when they start with the gzip magic."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise KerarchError(f"Cannot read IDX file {path}: {e.strerror or e}.") from e
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise KerarchError(
            f"IDX file {path} is a corrupt gzip file ({e}). "
            "Download or copy the file again."
        ) from e


def _parse_header(path, data):
    """Returns (dtype, shape, data offset) from the header of an IDX file."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise KerarchError(
            f"{path} is not an IDX file: it must start with two zero bytes, "
            f"a dtype code and the number of dimensions, but starts with "
            f"{data[:4].hex(' ') or 'nothing (empty file)'}."
        )
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        known = ", ".join(f"0x{c:02X} ({d.newbyteorder('=').name})" for c, d in _DTYPES.items())
        raise KerarchError(
            f"IDX file {path} has unknown dtype code 0x{code:02X}; known codes: {known}."
        )
    if ndim < 1:
        raise KerarchError(f"IDX file {path} declares 0 dimensions; at least 1 is needed.")
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise KerarchError(
            f"IDX file {path} is truncated inside its header: {ndim} dimensions "
            f"need {offset} header bytes, found {len(data)}."
        )
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    return _DTYPES[code], shape, offset


def _header(path, array):
    """The IDX header for `array`, or a KerarchError if IDX cannot hold it."""
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise KerarchError(
            f"Cannot write {path}: IDX stores uint8, int8, int16, int32, float32 "
            f"or float64, not {array.dtype}."
        )
    if not 1 <= array.ndim <= 255 or max(array.shape) >= 2**32:
        raise KerarchError(
            f"Cannot write {path}: IDX needs 1 to 255 dimensions each below 2**32, "
            f"got shape {array.shape}."
        )
    return bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()


def _write_atomically(path, data):
    """Writes `data` to a temporary file beside `path`, then renames it."""
    folder, base = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise

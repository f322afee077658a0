"""The idx format of MNIST and Fashion-MNIST (LeCun et al.), read with numpy, gzip'd or plain.

A file is a 4-byte magic number (two zero bytes, the element type 0x08 = unsigned byte, the number of dimensions),
one big-endian uint32 per dimension, then the values in C order. Images are 3-dimensional (N, H, W), labels
1-dimensional (N,). Invariant: a file is accepted only when its magic number is the expected one and its length
is exactly the header plus the product of its dimensions; anything else raises DataFileError naming the file.
"""

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from isocl.data.sources import DataFileError

GZIP_MAGIC = b"\x1f\x8b"
UBYTE = 0x08


def read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when it starts with gzip's magic bytes (whatever its name)."""
    raw = Path(path).read_bytes()
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError; a cut-off file an EOFError
        raise DataFileError(f"{path}: not a readable gzip file ({error}); delete it and provide it again") from None


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """The unsigned-byte array of `ndim` dimensions stored in the idx file at `path` (read-only view)."""
    raw = read_bytes(path)
    expected = bytes([0, 0, UBYTE, ndim])
    if raw[:4] != expected:
        raise DataFileError(
            f"{path}: not an idx file of {ndim}-dimensional unsigned bytes (magic number {raw[:4].hex() or 'missing'}, "
            f"expected {expected.hex()})"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(f"{path}: truncated idx header ({len(raw)} bytes)")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    if len(raw) != header + math.prod(dims):
        raise DataFileError(
            f"{path}: {len(raw)} bytes, but its header promises {header + math.prod(dims)} for shape {dims}: "
            "the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_split(images: Path, labels: Path, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W) and labels (N,) of one split, checked to agree in N and to hold labels < n_classes."""
    x, y = read_idx(images, 3), read_idx(labels, 1)
    if len(x) != len(y):
        raise DataFileError(f"{images} holds {len(x)} images but {labels} holds {len(y)} labels")
    if len(y) and int(y.max()) >= n_classes:
        raise DataFileError(f"{labels}: label {int(y.max())} is out of range for {n_classes} classes")
    return x, y

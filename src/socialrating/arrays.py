"""Arrow arrays made from NumPy arrays and Python values by their buffers.

``pa.array`` asks pandas whether its argument is one of pandas' own (an array-like, a
series, an index), and so imports pandas the first time a process calls it: 0.2-0.3 s
on this machine (pandas comes with Ibis), paid by every command that ingests a file.
These build the same arrays from their buffers, which pyarrow takes as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

LARGE = 2**31
"""Bytes of text from which an array's offsets are 64-bit (``large_string``)."""
_INT_TYPES = {np.dtype(np.int32): pa.int32(), np.dtype(np.int64): pa.int64()}


def ints(values: np.ndarray) -> pa.Array:
    """An Arrow array of the 32- or 64-bit integers ``values`` (no nulls)."""
    kind = _INT_TYPES.get(values.dtype)
    if kind is None or values.ndim != 1:
        raise TypeError(f"ints: a 32- or 64-bit integer array of one axis, not {values.dtype}")
    data = np.ascontiguousarray(values)
    return pa.Array.from_buffers(kind, len(data), [None, pa.py_buffer(data)])


def texts(values: Sequence[str | None]) -> pa.Array:
    """An Arrow array of the strings ``values`` (None: null), as ``pa.array(values,
    pa.string())`` makes it; past 2 GiB of text, whose offsets no longer fit 32 bits, one
    ``large_string`` array (where ``pa.array`` would give chunks).

    Raises:
        UnicodeEncodeError: a value holds a lone surrogate (as ``pa.array`` does).
    """
    n = len(values)
    encoded = [b"" if v is None else v.encode() for v in values]
    lengths = np.fromiter(map(len, encoded), np.int64, n)
    total = int(lengths.sum())
    large = total >= LARGE
    offsets = np.zeros(n + 1, np.int64 if large else np.int32)
    np.cumsum(lengths, out=offsets[1:])
    nulls = np.fromiter((v is None for v in values), np.bool_, n)
    null_count = int(nulls.sum())
    validity = None if null_count == 0 else pa.py_buffer(np.packbits(~nulls, bitorder="little"))
    return pa.Array.from_buffers(
        pa.large_string() if large else pa.string(),
        n,
        [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))],
        null_count,
    )


def scalar(value: float, kind: pa.DataType = pa.int32()) -> pa.Scalar:
    """The number ``value`` as an Arrow scalar of the integer or float type ``kind``, to
    compare or fill arrays with (a Python value given to a compute function goes through
    ``pa.array``)."""
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        raise TypeError(f"scalar: an integer or float type, not {kind}")
    data = np.array([value], np.dtype(kind.to_pandas_dtype()))
    return pa.Array.from_buffers(kind, 1, [None, pa.py_buffer(data)])[0]


def empty_text(kind: pa.DataType = pa.string()) -> pa.Scalar:
    """The empty text (or bytes) as an Arrow scalar of ``kind``, to fill nulls with."""
    return texts([""]).cast(kind)[0]


def numbers(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The fixed-width numbers of ``values`` (no nulls) as a NumPy array: a view of one
    chunk's buffer, a copy of several (``to_numpy`` imports pandas too)."""
    if isinstance(values, pa.ChunkedArray):
        chunks = [numbers(chunk) for chunk in values.chunks]
        if len(chunks) == 1:
            return chunks[0]
        return np.concatenate(chunks) if chunks else np.empty(0, values.type.to_pandas_dtype())
    if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
        raise TypeError(f"numbers: an array of integers or floats, not {values.type}")
    if values.null_count:
        raise ValueError("numbers: an array without nulls")
    dtype = np.dtype(values.type.to_pandas_dtype())
    buffer = values.buffers()[1]
    if buffer is None or len(values) == 0:  # an empty one may have none, or its offset past it
        return np.empty(0, dtype)
    return np.frombuffer(buffer, dtype, len(values), values.offset * dtype.itemsize)

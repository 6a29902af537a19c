"""NumPy values as tensors of bytes, for checkpoints that ``torch.load(weights_only=True)`` reads.

That loader builds tensors, numbers, strings and plain containers and refuses every other object,
NumPy arrays and scalars included. :func:`encode` replaces each of them by a tagged dict holding
its raw bytes as a ``uint8`` tensor, its dtype, shape and memory order; :func:`decode` rebuilds it
bit for bit. Anything else that loader would refuse is refused at saving time.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import numpy as np

TAG = "__sliceflow__"  # the key of a dict that stands for a NumPy value (or an escaped dict)
_PLAIN = frozenset({str, int, float, bool, type(None), complex, bytes})
_DICTS = {dict: "dict", OrderedDict: "ordered_dict"}


def encode(obj: Any) -> Any:
    """``obj`` with every NumPy array and scalar replaced by a tagged dict of its bytes.

    Containers are rebuilt only where something inside them changed (so an ``OrderedDict``
    keeps its attributes, e.g. a module's ``_metadata``); a dict that happens to hold the key
    ``TAG`` is escaped, so no data can pass for a tag.

    Parameters
    ----------
    obj : Any
        Tensors, NumPy arrays (not of object or structured dtype) and scalars, numbers,
        strings, bytes, ``None``, ``torch.Size``/``dtype``/``device``, and dicts, lists,
        tuples and sets of them.

    Returns
    -------
    Any
        What ``torch.load(weights_only=True)`` rebuilds; ``decode`` gives ``obj`` back.

    Raises
    ------
    TypeError
        For any other object, naming where it sits (a programmer error: the ``state_dict``
        that holds it must convert it).
    """
    try:
        return _encode(obj)
    except _Unsavable as error:
        where = "".join(f"[{key!r}]" for key in reversed(error.path))
        raise TypeError(f"checkpoint{where}: {error.args[0]} cannot be saved safely") from None


class _Unsavable(TypeError):
    """An object ``encode`` refuses; ``path`` collects the keys above it on the way up."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.path: list[Any] = []


def _encode(obj: Any) -> Any:
    import torch

    kind = type(obj)
    if kind in _PLAIN or isinstance(obj, (torch.Tensor, torch.Size, torch.dtype, torch.device)):
        return obj
    if isinstance(obj, (np.ndarray, np.generic)):
        return _encode_numpy(obj)
    if kind in (list, tuple, set) and {type(value) for value in obj} <= _PLAIN:
        return obj  # nothing to convert
    if kind is list and _plain_rows(obj):
        return obj  # trace and table rows, in one pass (a long run has many)
    if kind in (list, tuple):
        return _sequence(obj, [_within(i, value) for i, value in enumerate(obj)])
    if kind in _DICTS:
        pairs = [(key, _within(key, value)) for key, value in obj.items()]
        if TAG in obj:
            return {TAG: _DICTS[kind], "items": [list(pair) for pair in pairs]}
        return _mapping(obj, pairs)
    raise _Unsavable(f"a {kind.__module__}.{kind.__qualname__}")


def _plain_rows(rows: list) -> bool:
    """Whether ``rows`` are tuples of plain values, or of plain values and such tuples (the
    ``(step, row)`` pairs of a table)."""
    if {type(row) for row in rows} != {tuple}:
        return False
    kinds = {type(value) for row in rows for value in row}
    if kinds <= _PLAIN:
        return True
    inner = {type(v) for row in rows for value in row if type(value) is tuple for v in value}
    return kinds <= _PLAIN | {tuple} and inner <= _PLAIN


def _within(key: Any, value: Any) -> Any:
    try:
        return _encode(value)
    except _Unsavable as error:
        error.path.append(key)
        raise


def _sequence(obj: list | tuple, items: list) -> list | tuple:
    """``obj`` itself when no item changed, else the same kind of sequence of ``items``."""
    return obj if all(a is b for a, b in zip(items, obj, strict=True)) else type(obj)(items)


def _mapping(obj: dict, pairs: list[tuple]) -> dict:
    """``obj`` itself when no value changed, else the same kind of dict of ``pairs``, with
    ``obj``'s attributes (an ``OrderedDict`` of module weights carries ``_metadata``)."""
    if all(new is old for (_, new), old in zip(pairs, obj.values(), strict=True)):
        return obj
    rebuilt = type(obj)(pairs)
    if hasattr(obj, "__dict__"):
        rebuilt.__dict__.update(vars(obj))
    return rebuilt


def _encode_numpy(value: np.ndarray | np.generic) -> dict[str, Any]:
    import torch

    array = np.asarray(value)
    if array.dtype.kind in "OV" or array.dtype.hasobject:
        raise _Unsavable(f"a NumPy value of dtype {array.dtype}")
    # pickle keeps Fortran order for an array that is only Fortran-contiguous: so do we
    order = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"
    data = torch.empty(0, dtype=torch.uint8)
    if array.nbytes:
        flat = array.ravel(order=order)  # a view when contiguous, else a copy
        if not flat.flags.writeable:
            flat = flat.copy()  # torch.from_numpy wants a writeable buffer
        data = torch.from_numpy(flat.view(np.uint8))
    kind = "scalar" if isinstance(value, np.generic) else "ndarray"
    return {TAG: kind, "dtype": array.dtype.str, "shape": list(array.shape), "order": order,
            "data": data}  # fmt: skip


def decode(obj: Any) -> Any:
    """``encode``'s inverse: tagged dicts become NumPy values again, bit for bit.

    Raises
    ------
    ValueError
        A malformed tag, for a file that sliceflow did not write.
    """
    kind = type(obj)
    if kind in (list, tuple) and ({type(value) for value in obj} <= _PLAIN or _plain_rows(obj)):
        return obj  # no tag inside
    if kind in (list, tuple):
        return _sequence(obj, [decode(value) for value in obj])
    if kind not in _DICTS:
        return obj
    if TAG not in obj:
        return _mapping(obj, [(key, decode(value)) for key, value in obj.items()])
    tag = obj[TAG]
    if tag in ("dict", "ordered_dict") and set(obj) == {TAG, "items"}:
        items = obj["items"]
        if type(items) is list and all(type(p) is list and len(p) == 2 for p in items):
            target = dict if tag == "dict" else OrderedDict
            return target((key, decode(value)) for key, value in items)
    if tag in ("ndarray", "scalar") and set(obj) == {TAG, "dtype", "shape", "order", "data"}:
        return _decode_numpy(obj)
    raise ValueError(f"a malformed {TAG} entry ({str(tag)[:40]!r})")


def _decode_numpy(tag: dict[str, Any]) -> np.ndarray | np.generic:
    import torch

    shape, order, data = tag["shape"], tag["order"], tag["data"]
    try:
        dtype = np.dtype(tag["dtype"]) if type(tag["dtype"]) is str else None
    except (TypeError, ValueError):
        dtype = None
    if dtype is None or dtype.kind in "OV" or dtype.hasobject:
        raise ValueError(f"a NumPy value of dtype {str(tag['dtype'])[:40]!r}")
    if type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape):
        raise ValueError("a NumPy value whose shape is not a list of sizes")
    if not isinstance(data, torch.Tensor) or data.dtype != torch.uint8 or data.dim() != 1 \
            or data.layout != torch.strided or not data.is_contiguous():  # fmt: skip
        raise ValueError("a NumPy value whose bytes are not a 1-D uint8 tensor")
    if order not in ("C", "F") or math.prod(shape) * dtype.itemsize != data.numel():
        raise ValueError(f"a NumPy value of shape {shape} and dtype {dtype} with {data.numel()} "
                         "bytes")  # fmt: skip
    if tag[TAG] == "scalar" and shape:
        raise ValueError("a NumPy scalar with a shape")
    if data.numel():
        array = data.numpy().view(dtype).reshape(shape, order=order)
    else:
        array = np.empty(shape, dtype=dtype, order=order)
    return array[()] if tag[TAG] == "scalar" else array

"""A NumPy-only reader for legacy (non-zip) torch pickles.

Why our own: torch is a 700 MB dependency for reading one 17 MB file.
"""

from __future__ import annotations

import io
import os
import pickle
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labkit.errors import LabkitError

_TORCH_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
                   "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
                   "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


@dataclass
class _StorageRef:
    key: str
    dtype: type
    size: int


@dataclass
class _TensorRef:
    storage: _StorageRef
    offset: int
    shape: tuple
    stride: tuple


def _rebuild_tensor_v2(storage, offset, shape, stride, requires_grad=False, hooks=None, metadata=None):
    return _TensorRef(storage, offset, tuple(shape), tuple(stride))


class _TensorsOnlyUnpickler(pickle.Unpickler):
    """Accepts only torch's storage and rebuild classes (and OrderedDict); refuses any other global."""

    def __init__(self, file, source: Path):
        super().__init__(file)
        self.source = source

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        raise LabkitError(f"{self.source}: refusing to unpickle {module}.{name}: "
                          "a weights file may contain tensors only")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and pid[1] in _STORAGE_DTYPES):
            raise LabkitError(f"{self.source}: unexpected persistent id {pid!r}")
        return _StorageRef(str(pid[2]), _STORAGE_DTYPES[pid[1]], int(pid[4]))


def read_torch_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a legacy torch ``state_dict`` file into NumPy arrays, honouring strides."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LabkitError(f"cannot read weights file {path}: {exc.strerror}") from None
    f = io.BytesIO(raw)
    try:
        if _TensorsOnlyUnpickler(f, path).load() != _TORCH_MAGIC:
            raise LabkitError(f"{path} is not a legacy torch file (zip-format files are not supported)")
        _TensorsOnlyUnpickler(f, path).load()  # protocol version
        _TensorsOnlyUnpickler(f, path).load()  # sys info
        obj = _TensorsOnlyUnpickler(f, path).load()
        keys = _TensorsOnlyUnpickler(f, path).load()
    except LabkitError:
        raise
    except Exception as exc:
        raise LabkitError(f"{path} is not a readable torch weights file: {exc}") from None
    if not isinstance(obj, dict) or not all(isinstance(v, _TensorRef) for v in obj.values()):
        raise LabkitError(f"{path}: expected a state_dict of tensors")
    dtypes = {v.storage.key: v.storage.dtype for v in obj.values()}
    storages: dict[str, np.ndarray] = {}
    for key in keys:
        count = int(np.frombuffer(f.read(8), "<i8")[0])
        dtype = np.dtype(dtypes[key])
        buf = f.read(count * dtype.itemsize)
        if len(buf) != count * dtype.itemsize:
            raise LabkitError(f"{path} is truncated")
        storages[key] = np.frombuffer(buf, dtype.newbyteorder("<"))
    out = {}
    for name, t in obj.items():
        flat = storages[t.storage.key]
        item = flat.itemsize
        view = np.lib.stride_tricks.as_strided(flat[t.offset:], shape=t.shape,
                                               strides=tuple(s * item for s in t.stride))
        out[name] = np.array(view, dtype=flat.dtype.newbyteorder("="))
    return out

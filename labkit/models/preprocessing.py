"""Preprocessing as a layer, so that every model takes raw RGB pixels in 0..255."""

from __future__ import annotations

from labkit.errors import LabkitError

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision's ImageNet mean and std, RGB in 0..1
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)  # Keras' "caffe" preprocessing: BGR mean in 0..255


def _preprocess_layer_class():
    import keras

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

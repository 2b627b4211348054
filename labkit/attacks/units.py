"""CS231n's units and blur: the attacks' step sizes and L2 are measured in ImageNet-normalised pixels
(``to_cs231n``), the same for every model, while images stay raw RGB 0..255 (the models preprocess inside)."""

from __future__ import annotations

import numpy as np

from labkit.errors import LabkitError
from labkit.models import IMAGENET_MEAN, IMAGENET_STD

CS231N_MEAN = np.array(IMAGENET_MEAN, np.float32)  # CS231n normalises with torchvision's ImageNet statistics
CS231N_STD = np.array(IMAGENET_STD, np.float32)


def to_cs231n(pixels) -> np.ndarray:
    """Raw 0..255 pixels in CS231n's units, ``(x / 255 - mean) / std``."""
    return ((np.asarray(pixels, np.float32) / 255.0 - CS231N_MEAN) / CS231N_STD).astype(np.float32)


def from_cs231n(z) -> np.ndarray:
    """CS231n's units back to raw pixels (not clipped)."""
    return (255.0 * (np.asarray(z, np.float32) * CS231N_STD + CS231N_MEAN)).astype(np.float32)


def image_norm(g):
    """Traceable: each image's L2 norm, shaped to divide the batch (at least 1e-12)."""
    import tensorflow as tf

    return tf.maximum(tf.sqrt(tf.reduce_sum(tf.square(g), axis=[1, 2, 3], keepdims=True)), 1e-12)


def gaussian_kernel(sigma: float = 0.5, truncate: float = 4.0) -> np.ndarray:
    """scipy.ndimage's 1-D Gaussian (radius ``int(truncate * sigma + 0.5)``), normalised."""
    radius = int(truncate * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def blur_graph(z, kernel):
    """Separable Gaussian blur per channel with scipy's ``reflect`` border (TF's SYMMETRIC pad)."""
    import tensorflow as tf

    kernel = tf.convert_to_tensor(kernel, tf.float32)
    r = (tf.shape(kernel)[0] - 1) // 2
    c = z.shape[-1]
    z = tf.pad(z, [[0, 0], [r, r], [r, r], [0, 0]], mode="SYMMETRIC")
    z = tf.nn.depthwise_conv2d(z, tf.tile(tf.reshape(kernel, [-1, 1, 1, 1]), [1, 1, c, 1]), [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(z, tf.tile(tf.reshape(kernel, [1, -1, 1, 1]), [1, 1, c, 1]), [1, 1, 1, 1], "VALID")


def blur(images, sigma: float = 0.5) -> np.ndarray:
    """The steps' Gaussian blur on a batch ``(n, h, w, c)``: equals ``scipy.ndimage.gaussian_filter1d`` on h, w."""
    if sigma <= 0:
        raise LabkitError(f"blur sigma must be > 0, got {sigma}")
    return blur_graph(np.asarray(images, np.float32), gaussian_kernel(sigma)).numpy()

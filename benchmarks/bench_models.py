"""Offline model: load time (first, converting the .pth; then cached) and forward/backward cost."""

import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from labkit import models  # noqa: E402


def timed(fn, repeat=5):
    fn()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def main():
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LABKIT_CACHE"] = tmp
        t = time.perf_counter()
        models.load_model("efficientnet_lite0")
        first = time.perf_counter() - t
        t = time.perf_counter()
        model = models.load_model("efficientnet_lite0")
        cached = time.perf_counter() - t
    print(f"load efficientnet_lite0: first {first:.2f} s, cached {cached:.2f} s")
    x = tf.constant(np.random.RandomState(0).randint(0, 256, (4, 224, 224, 3)).astype(np.float32))

    @tf.function
    def fwd_bwd(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = model(x)[:, 1]
        return tape.gradient(y, x)

    def eager():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = model(x)[:, 1]
        return tape.gradient(y, x)

    f = timed(lambda: model(x))
    c = timed(lambda: fwd_bwd(x))
    e = timed(eager)
    print(f"batch 4: forward {f * 1e3:.0f} ms, compiled fwd+bwd {c * 1e3:.0f} ms, eager fwd+bwd {e * 1e3:.0f} ms "
          f"(eager/compiled = {e / c:.1f}x)")


if __name__ == "__main__":
    main()

"""Offline model: load time (first, converting the .pth; then cached), forward/backward cost, and the compiled
forward's time per image against its batch size (what ``models.PREDICT_BATCH`` is chosen from); then the input
gradient of a VGG16 fc1-sized ``Dense`` (25088 -> 4096), Keras' own against ``labkit.models.layers``'.

    .venv/bin/python benchmarks/bench_models.py [--model vgg16]   # --model: the batch sweep's model
"""

import argparse
import os
import statistics
import tempfile
import time

import labkit  # noqa: F401 - first: quiets TensorFlow's native log lines (labkit.quiet)

# isort: split
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from labkit import images, models  # noqa: E402


def timed(fn, repeat=5):
    fn()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def batch_sweep(model, sizes=(1, 2, 4, 8, 16, 32, 64), rounds: int = 3) -> None:
    """ms per image of the compiled forward (``models.predict``) at each batch size, median of interleaved rounds."""
    x = images.fit_batch(list(images.BUNDLED)[:8], models.input_size(model))
    big = np.concatenate([x] * 8)
    models.predict(model, big[:8])
    per_image = {b: [] for b in sizes}
    for _ in range(rounds):
        for b in sizes:
            t = time.perf_counter()
            models.predict(model, big, batch_size=b)
            per_image[b].append((time.perf_counter() - t) / len(big) * 1e3)
    print(f"{model.name}, compiled forward, ms per image by batch size (PREDICT_BATCH = {models.PREDICT_BATCH}): "
          + ", ".join(f"{b}: {statistics.median(v):.1f}" for b, v in per_image.items()))


def dense_gradient(batches=(1, 4, 8), rounds: int = 5) -> None:
    """ms per input gradient of a 25088 -> 4096 ``Dense`` (VGG16's fc1, random weights), compiled, Keras' own
    against labkit's, median of interleaved rounds."""
    from labkit.models.layers import with_fast_dense

    inputs = keras.Input((25088,))
    plain = keras.Model(inputs, keras.layers.Dense(4096, name="fc1")(inputs))
    fast = with_fast_dense(plain)
    fast.set_weights(plain.get_weights())

    def gradient(model):
        @tf.function
        def f(x):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(x)
                y = tf.reduce_sum(model(x))
            return tape.gradient(y, x)

        return f

    fns = {"keras": gradient(plain), "labkit": gradient(fast)}
    for b in batches:
        x = tf.random.stateless_uniform((b, 25088), seed=(0, b))
        times = {name: [] for name in fns}
        for _ in range(rounds):
            for name, f in fns.items():
                f(x)
                t = time.perf_counter()
                f(x).numpy()
                times[name].append((time.perf_counter() - t) * 1e3)
        k, lab = (statistics.median(times[name]) for name in fns)
        print(f"fc1-sized Dense, input gradient of {b} vector(s): Keras {k:.0f} ms, labkit {lab:.0f} ms "
              f"({k / lab:.1f}x)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet_lite0", help="model of the batch-size sweep")
    args = parser.parse_args()
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
    batch_sweep(model if args.model == "efficientnet_lite0" else models.load_model(args.model))
    dense_gradient()


if __name__ == "__main__":
    main()

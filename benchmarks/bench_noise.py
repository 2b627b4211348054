"""Lab 3, side by side in one run on the offline model (EfficientNet-Lite0):

1. images/s of the batched confidence survey (``confidence.top1``: fit per batch, compiled forward, tables) against the
   seed's per-image loop (fit, eager forward, top-1, one image at a time) and against the raw batched
   forward of the same model on already fitted images;
2. Integrated Gradients and occlusion against the cost of the forward/backward passes they need
   (the same batch sizes through a bare compiled step): the ratio is labkit's overhead.

Run: ``.venv/bin/python benchmarks/bench_noise.py [n_images]``. Timings on a shared CPU are noisy; the
ratios, measured back to back, are what to read.
"""

import sys
import time

import labkit  # noqa: F401 - first: quiets TensorFlow's native log lines (labkit.quiet)

# isort: split
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import input_gradient  # noqa: E402

from labkit import attribution, confidence, images, models  # noqa: E402


def timed(fn, repeat: int = 3) -> float:
    """Best of ``repeat`` runs after one warm-up (tracing) run, in seconds."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(n: int = 64, batch: int = 32) -> None:
    model = models.load_model("efficientnet_lite0")
    size = models.input_size(model)
    noise = images.seed002_noise(n, size=confidence.source_size(size), seed=0)
    fitted = images.fit_batch(noise, size, "center")
    spec = tf.TensorSpec([None, size, size, 3], tf.float32)
    raw_forward = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    raw_gradient = input_gradient(model, size)

    def seed_loop():  # the seed: transform one image, forward it eagerly, softmax top-1
        for img in noise:
            x = images.fit(img, size, "center").astype(np.float32)[None]
            p = model(x, training=False).numpy()[0]
            _ = int(p.argmax()), float(p.max())

    def batched_probe():
        confidence.top1(model, noise, batch_size=batch, progress=False)

    def raw_batched():
        for i in range(0, n, batch):
            raw_forward(fitted[i:i + batch]).numpy()

    t_seed, t_probe, t_raw = timed(seed_loop, 1), timed(batched_probe), timed(raw_batched)
    print(f"noise probe, {n} seed002 images, efficientnet_lite0, batch {batch}:")
    print(f"  seed's per-image loop (eager) {n / t_seed:7.1f} images/s")
    print(f"  batched probe (labkit)        {n / t_probe:7.1f} images/s   {t_seed / t_probe:5.1f}x the seed's loop")
    print(f"  raw batched forward           {n / t_raw:7.1f} images/s   probe / raw time = {t_probe / t_raw:.2f}")

    photo = images.fit_batch(["chelsea"], size)
    target = models.predict(model, photo, output="logit").argmax(1)
    steps, ig_batch = 50, 50
    t_ig = timed(lambda: attribution.integrated_gradients(model, photo, target, steps=steps,
                                                          internal_batch_size=ig_batch, progress=False), 2)
    xs = np.repeat(photo, ig_batch, axis=0)
    ts = np.repeat(target, ig_batch).astype(np.int32)
    t_grad = timed(lambda: raw_gradient(xs, ts).numpy(), 2) * (steps / ig_batch)
    print(f"integrated gradients, {steps} steps (batch {ig_batch}): {t_ig:.2f} s; {steps} forward+backward "
          f"through a bare compiled step: {t_grad:.2f} s; ratio {t_ig / t_grad:.2f}")

    window, stride, occ_batch = 32, 16, 64
    n_win = len(attribution.occlusion_windows((size, size), window, stride))
    t_occ = timed(lambda: attribution.occlusion(model, photo, target, window=window, strides=stride,
                                                batch_size=occ_batch, progress=False), 2)
    occluded = np.repeat(photo, n_win, axis=0)
    t_fwd = timed(lambda: [raw_forward(occluded[i:i + occ_batch]).numpy() for i in range(0, n_win, occ_batch)], 2)
    print(f"occlusion, {window}x{window} window, stride {stride}: {n_win} windows: {t_occ:.2f} s; {n_win} forward "
          f"passes (+1) through a bare compiled step: {t_fwd:.2f} s; ratio {t_occ / t_fwd:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 64)

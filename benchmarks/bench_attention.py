"""Lab 1: time per image of each attention method against one compiled forward+backward of the same
model and batch, side by side in one run.

    .venv/bin/python benchmarks/bench_attention.py [--model efficientnet_lite0] [--images 2] [--repeat 3]

``fwd+bwd``: the gradient of the target logits w.r.t. the pixels, compiled (``tf.function``). Each method
runs through ``attribution.attention_maps`` (tf-keras-vis, eager, with labkit's cached model clones).
Rounds are interleaved and the median is kept, so the ratios hold under load.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import input_gradient  # noqa: E402

from labkit import attribution, images, models  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--images", type=int, default=2, help="batch size (bundled photos)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is kept")
    parser.add_argument("--smooth-samples", type=int, default=20, help="SmoothGrad samples (tf-keras-vis' 20)")
    parser.add_argument("--scorecam-max-n", type=int, default=32, help="Faster-Score-CAM channels")
    args = parser.parse_args()

    model = models.load_model(args.model)
    size = models.input_size(model)
    photos = list(images.BUNDLED)[: args.images]
    x = images.fit_batch(photos, size)
    targets = model.predict(x, verbose=0).argmax(1).astype(np.int32)
    fwd_bwd = input_gradient(model, size)
    xt, tt = tf.constant(x, tf.float32), tf.constant(targets)

    def run(method: str) -> None:
        attribution.attention_maps(model, x, targets.tolist(), [method], smooth_samples=args.smooth_samples,
                                   scorecam_max_n=args.scorecam_max_n, progress=False)

    def timed(fn) -> float:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    methods = list(attribution.METHODS)
    fwd_bwd(xt, tt).numpy()
    for m in methods:  # warm up: build each clone and trace tf-keras-vis' functions once
        run(m)
    times: dict[str, list[float]] = {k: [] for k in ["fwd+bwd", *methods]}
    for _ in range(args.repeat):
        for m in methods:
            times["fwd+bwd"].append(timed(lambda: fwd_bwd(xt, tt).numpy()))
            times[m].append(timed(lambda m=m: run(m)))
    med = {k: statistics.median(v) for k, v in times.items()}
    ref = med["fwd+bwd"]
    n = len(x)
    print(f"{args.model}, {n} images, {size}x{size}; SmoothGrad {args.smooth_samples} samples, "
          f"Faster-Score-CAM max_N {args.scorecam_max_n}; median of {args.repeat} interleaved rounds")
    print(f"one compiled forward+backward of the batch: {ref * 1e3:.0f} ms ({ref / n * 1e3:.0f} ms per image)")
    print(f"{'method':<20} {'ms per image':>13} {'x fwd+bwd':>10}")
    for m in methods:
        print(f"{m:<20} {med[m] / n * 1e3:13.0f} {med[m] / ref:10.1f}")


if __name__ == "__main__":
    main()

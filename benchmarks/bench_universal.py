"""Lab 4's universal masked image on the offline model, measured side by side in one run.

1. Cost of one optimisation step (mask K copies, resize 64 -> 224, forward, backward, Adam update,
   clip) against one compiled forward+backward of the same K-image batch (the floor), and against
   the same step run eagerly.
2. Steps and seconds to 100% success for K = 2, 10, 18 (Adam, lr 0.1; the CPU profiles' settings).

Run: ``.venv/bin/python benchmarks/bench_universal.py [--k 2 10 18] [--kinds stripes squares]``.
"""

import argparse
import os
import time

import labkit  # noqa: F401 - first: quiets TensorFlow's native log lines (labkit.quiet)

# isort: split
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from labkit import attacks, masks, models  # noqa: E402


def interleaved(fns: dict, repeat: int = 7) -> dict:
    """Median seconds per call of each function, calls interleaved so that load from other processes hits all alike."""
    for fn in fns.values():
        fn()  # warm-up (tracing)
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: float(np.median(v)) for name, v in times.items()}


def step_costs(model, k: int, size: int = 64, repeat: int = 7) -> dict:
    """Seconds per optimisation step (compiled; eager too for K <= 2) and per compiled forward+backward of its batch."""
    ids = tf.constant(attacks.universal_targets(k, seed=0), tf.int32)
    m = tf.constant(masks.masks("stripes", k, size))
    noise = tf.zeros((size, size, 3))
    x, _, step = attacks.universal_step(model, size, "adam", "zero")
    x0 = np.random.default_rng(0).random((size, size, 3), dtype=np.float32)
    lm = models.logits_model(model)
    s = models.input_size(model)
    batch = tf.image.resize(masks.apply_masks(255.0 * x0, m, "zero"), (s, s))

    @tf.function
    def fwd_bwd(b):
        with tf.GradientTape() as tape:
            tape.watch(b)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(ids, lm(b, training=False)))
        return tape.gradient(loss, b)

    def run_step(fn):
        x.assign(x0)  # far from success: every timed call takes a full update
        return fn(m, ids, noise)

    fns = {"fwd_bwd": lambda: fwd_bwd(batch), "step": lambda: run_step(step)}
    if k <= 2:  # eager is slow: measure it on the small batch only
        fns["eager_step"] = lambda: run_step(step.python_function)
    return interleaved(fns, repeat)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[2, 10, 18])
    parser.add_argument("--kinds", nargs="+", default=["stripes", "squares"])
    parser.add_argument("--cap", type=int, default=200)
    args = parser.parse_args()
    model = models.load_model("efficientnet_lite0")
    print(f"efficientnet_lite0, universal image 64x64 -> 224x224, {os.cpu_count()} CPU(s); "
          "timings are noisy on a shared machine, the ratios less so")

    print("\n1. one step vs one compiled forward+backward of the same batch")
    print(f"{'K':>3} {'fwd+bwd s':>10} {'step s':>8} {'step/fwd+bwd':>13} {'eager/compiled':>15}")
    for k in args.k:
        c = step_costs(model, k)
        eager = f"{c['eager_step'] / c['step']:.2f}x" if "eager_step" in c else "-"
        print(f"{k:>3} {c['fwd_bwd']:>10.3f} {c['step']:>8.3f} {c['step'] / c['fwd_bwd']:>12.2f}x {eager:>15}")

    print(f"\n2. steps and seconds to 100% success (Adam lr 0.1, cap {args.cap}, seed 0)")
    print(f"{'K':>3} {'mask':>8} {'success':>8} {'steps':>6} {'seconds':>8} {'s/step':>7} {'s/step / K':>10}")
    for k in args.k:
        for kind in args.kinds:
            r = attacks.universal_image(model, k, mask_kind=kind, optimizer="adam", steps=args.cap, progress=False)
            n = max(r.steps, 1)
            print(f"{k:>3} {kind:>8} {r.success:>8.3f} {r.steps:>6} {r.seconds:>8.1f} {r.seconds / n:>7.3f} "
                  f"{r.seconds / n / k:>10.4f}")


if __name__ == "__main__":
    main()

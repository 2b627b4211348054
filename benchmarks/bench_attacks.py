"""Lab 2's loops (fooling, PGD, class visualisation): time per step against one compiled forward+backward
of the same model and batch, and the eager step (the seed's way) against the compiled one, side by side.

    .venv/bin/python benchmarks/bench_attacks.py [--model efficientnet_lite0] [--batch 4] [--repeat 5]

Columns: ``fwd+bwd`` one compiled forward+backward (gradient of the target logits w.r.t. the pixels);
``step`` the loop's compiled step; ``loop/it`` a whole library call divided by its iterations (Python
loop, NumPy copies, progress bar, final forward passes included); ``eager`` the same step run eagerly.
Measurements are interleaved round by round and the median is kept, so the ratios hold under load.
"""

import argparse
import statistics
import time

import labkit  # noqa: F401 - first: quiets TensorFlow's native log lines (labkit.quiet)

# isort: split
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import input_gradient  # noqa: E402

from labkit import attacks, models  # noqa: E402


def timed(fn) -> float:
    t = time.perf_counter()
    out = fn()
    if isinstance(out, tuple | list):
        out = out[0]
    if hasattr(out, "numpy"):
        out.numpy()
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the median is kept")
    parser.add_argument("--loop-iterations", type=int, default=5, help="iterations of each whole-loop call")
    args = parser.parse_args()

    model = models.load_model(args.model)
    size = models.input_size(model)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.batch, size, size, 3)).astype(np.float32)
    target = np.arange(1, args.batch + 1, dtype=np.int32) * 7
    fwd_bwd = input_gradient(model, size)

    fool, pgd, vis = (attacks.compiled_step(model, k) for k in ("fool", "pgd", "visualise"))
    f32 = lambda v: tf.constant(v, tf.float32)  # noqa: E731
    z = attacks.to_cs231n(x)
    shift, kernel = tf.constant([3, 5], tf.int32), tf.constant(attacks.gaussian_kernel(0.5))
    xt, tt, zt = tf.constant(x), tf.constant(target), tf.constant(z)  # eager steps need tensors
    fool_args = (xt, tt, f32(1.0))
    pgd_args = (xt, xt, tt, f32(1.0), f32(8.0), tf.constant(False))
    vis_args = (zt, tt, shift, f32(25.0), f32(1e-3), tf.constant(True), kernel)
    n = args.loop_iterations
    loops = {
        # learning rate tiny: nothing reaches its target, every iteration steps the whole batch
        "fooling": (fool, fool_args, lambda: attacks.fooling_images(model, x, target, learning_rate=1e-9, steps=n,
                                                                     progress=False)),
        "PGD": (pgd, pgd_args, lambda: attacks.pgd(model, x, target, eps=8, steps=n, early_stop=False,
                                                   progress=False)),
        "class visualisation": (vis, vis_args, lambda: attacks.class_visualisation(
            model, list(target), steps=n, show_every=n, progress=False)),
    }
    # warm up: trace every compiled function, run every eager step once
    fwd_bwd(xt, tt).numpy()
    for step, a, loop in loops.values():
        step(*a)
        step.python_function(*a)
        loop()

    times: dict[str, list[float]] = {k: [] for k in ["fwd+bwd"] + [f"{name} {what}" for name in loops
                                                                   for what in ("step", "loop", "eager")]}
    for _ in range(args.repeat):
        for name, (step, a, loop) in loops.items():
            times["fwd+bwd"].append(timed(lambda: fwd_bwd(xt, tt)))
            times[f"{name} step"].append(timed(lambda step=step, a=a: step(*a)))
            times[f"{name} loop"].append(timed(loop) / n)
            times[f"{name} eager"].append(timed(lambda step=step, a=a: step.python_function(*a)))
    med = {k: statistics.median(v) for k, v in times.items()}
    ref = med["fwd+bwd"]
    print(f"{args.model}, batch {args.batch}, {size}x{size}; median of {args.repeat} interleaved rounds "
          f"(timings on a shared CPU are noisy; the ratios are what to compare)")
    print(f"one compiled forward+backward: {ref * 1e3:.0f} ms")
    print(f"{'loop':<20} {'step ms':>8} {'loop/it ms':>10} {'eager ms':>9} {'step/fwd+bwd':>13} "
          f"{'loop/fwd+bwd':>13} {'eager/compiled':>15}")
    for name in loops:
        s, lp, e = med[f"{name} step"], med[f"{name} loop"], med[f"{name} eager"]
        print(f"{name:<20} {s * 1e3:8.0f} {lp * 1e3:10.0f} {e * 1e3:9.0f} {s / ref:13.2f} {lp / ref:13.2f} "
              f"{e / s:15.2f}")


if __name__ == "__main__":
    main()

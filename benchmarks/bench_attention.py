"""Lab 1: each attention method's time against one compiled forward+backward of the same model and batch, for
both engines side by side (tf-keras-vis, eager; labkit.attribution's compiled maps); then the faithfulness
metrics against the forward passes they need.

    .venv/bin/python benchmarks/bench_attention.py [--model efficientnet_lite0] [--images 2] [--repeat 3]

``fwd+bwd``: the gradient of the target logits w.r.t. the pixels, compiled (``tf.function``). Each method runs
through ``attribution.attention_maps(..., engine=...)``, after one warm-up call per engine (tracing, clones).
Rounds are interleaved (reference, then both engines, method by method) and the median of the per-round
ratios is kept, so the ratios hold under load. SmoothGrad is also given per sample (N noisy copies), and
Faster-Score-CAM against the forward passes it needs (max_N masked copies per image + 1).
Targets: gradient maps <= 1.5x, SmoothGrad <= 1.2x per sample, Score-CAM <= 1.2x its forwards; the deletion/
insertion curves and the randomisation check <= 1.1x the batched passes they need, on lab 1's workload (every
method).
"""

import argparse
import statistics
import time

import labkit  # noqa: F401 - first: quiets TensorFlow's native log lines (labkit.quiet)

# isort: split
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import forward, input_gradient  # noqa: E402

from labkit import attribution, images, metrics, models  # noqa: E402

ENGINES = ("tf-keras-vis", "compiled")
GRADIENT_TARGET, SMOOTH_TARGET, SCORECAM_TARGET, METRIC_TARGET = 1.5, 1.2, 1.2, 1.1


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--images", type=int, default=2, help="batch size (bundled photos)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is kept")
    parser.add_argument("--smooth-samples", type=int, default=20, help="SmoothGrad samples (tf-keras-vis' 20)")
    parser.add_argument("--scorecam-max-n", type=int, default=32, help="Faster-Score-CAM channels")
    parser.add_argument("--steps", type=int, default=16, help="deletion/insertion steps")
    parser.add_argument("--no-metrics", action="store_true", help="skip faithfulness and randomisation")
    args = parser.parse_args()

    model = models.load_model(args.model)
    size = models.input_size(model)
    photos = list(images.BUNDLED)[: args.images]
    x = images.fit_batch(photos, size)
    targets = models.predict(model, x).argmax(1).astype(np.int32)
    fwd_bwd, fwd = input_gradient(model, size), forward(model, size)
    xt, tt = tf.constant(x, tf.float32), tf.constant(targets)
    n, samples, max_n = len(x), args.smooth_samples, args.scorecam_max_n

    def run(method: str, engine: str) -> None:
        attribution.attention_maps(model, x, targets.tolist(), [method], smooth_samples=samples,
                                   scorecam_max_n=max_n, progress=False, engine=engine)

    methods = list(attribution.METHODS)
    fwd_bwd(xt, tt).numpy()
    fwd(xt).numpy()
    first = {e: {m: timed(lambda m=m, e=e: run(m, e)) for m in methods} for e in ENGINES}  # traces, clones
    ratio = {(m, e): [] for m in methods for e in ENGINES}
    secs = {(m, e): [] for m in methods for e in ENGINES}
    per_forward = {e: [] for e in ENGINES}
    ref_times = []
    for _ in range(args.repeat):
        for m in methods:
            ref = timed(lambda: fwd_bwd(xt, tt).numpy())
            one = timed(lambda: fwd(xt).numpy()) if m == "scorecam" else None
            ref_times.append(ref)
            for e in ENGINES:
                t = timed(lambda m=m, e=e: run(m, e))
                secs[m, e].append(t)
                ratio[m, e].append(t / ref)
                if one is not None:
                    per_forward[e].append(t / ((max_n + 1) * one))
    med = {k: statistics.median(v) for k, v in ratio.items()}
    ms = {k: statistics.median(v) / n * 1e3 for k, v in secs.items()}
    ref = statistics.median(ref_times)

    print(f"{args.model}, {n} images, {size}x{size}; SmoothGrad N={samples} samples, Faster-Score-CAM "
          f"max_N={max_n}; median of {args.repeat} interleaved rounds")
    print(f"one compiled forward+backward of the batch: {ref * 1e3:.0f} ms ({ref / n * 1e3:.0f} ms per image)")
    print(f"{'method':<20} {'tf-keras-vis':>22} {'compiled':>22} {'speed-up':>9} {'target':>8}  first call (s)")
    print(f"{'':<20} {'ms/img':>10} {'x fwd+bwd':>11} {'ms/img':>10} {'x fwd+bwd':>11} {'':>9} {'':>8}  tkv / compiled")
    for m in methods:
        a, b = med[m, ENGINES[0]], med[m, ENGINES[1]]
        target = {"smoothgrad": f"{SMOOTH_TARGET * samples:.0f}", "scorecam": "-"}.get(m, f"{GRADIENT_TARGET}")
        print(f"{m:<20} {ms[m, ENGINES[0]]:10.0f} {a:11.2f} {ms[m, ENGINES[1]]:10.0f} {b:11.2f} {a / b:9.1f} "
              f"{target:>8}  {first[ENGINES[0]][m]:.1f} / {first[ENGINES[1]][m]:.1f}")
    s = {e: med["smoothgrad", e] / samples for e in ENGINES}
    f = {e: statistics.median(per_forward[e]) for e in ENGINES}
    print(f"{'smoothgrad / sample':<20} {'':>10} {s[ENGINES[0]]:11.2f} {'':>10} {s[ENGINES[1]]:11.2f} "
          f"{s[ENGINES[0]] / s[ENGINES[1]]:9.1f} {SMOOTH_TARGET:>8}")
    print(f"{'scorecam / forwards':<20} {'':>10} {f[ENGINES[0]]:11.2f} {'':>10} {f[ENGINES[1]]:11.2f} "
          f"{f[ENGINES[0]] / f[ENGINES[1]]:9.1f} {SCORECAM_TARGET:>8}   (x {max_n + 1} compiled forwards)")
    if not args.no_metrics:
        metric_costs(model, x, targets, args.repeat, args.steps, samples, max_n)


def metric_costs(model, x, targets, repeat: int, steps: int, samples: int, max_n: int) -> None:
    """Deletion/insertion and the randomisation check on lab 1's workload (every method), against the batched
    passes they need: the curves' forwards, and the maps of the randomised model."""
    ids = targets.tolist()
    opts = {"smooth_samples": samples, "scorecam_max_n": max_n, "progress": False}
    names = list(attribution.METHODS)
    maps = attribution.attention_maps(model, x, ids, names, **opts)
    distinct = len({np.asarray(m, np.float32).tobytes() for m in maps.values()}) + 1  # scored once; + random
    # every curve's inner steps, deletion and insertion, and each image on its own, grayed and blurred
    batch = np.repeat(x, distinct * 2 * (steps - 1) + 3, axis=0)
    faith = lambda: metrics.faithfulness(model, x, maps, ids, steps=steps, progress=False)  # noqa: E731
    passes = lambda: models.predict(model, batch)  # noqa: E731  # what the curves' predictions need
    check = lambda: metrics.randomisation_check(model, x, ids, names, maps=maps, **opts)  # noqa: E731
    again = lambda: attribution.attention_maps(model, x, ids, names, **opts)  # noqa: E731  # the maps it needs
    for fn in (faith, passes, check, again):
        fn()
    t = {k: [] for k in ("faith", "passes", "check", "again")}
    for _ in range(repeat):
        for k, fn in (("faith", faith), ("passes", passes), ("check", check), ("again", again)):
            t[k].append(timed(fn))
    r_faith = statistics.median(a / b for a, b in zip(t["faith"], t["passes"], strict=True))
    r_rand = statistics.median(a / b for a, b in zip(t["check"], t["again"], strict=True))
    extra = statistics.median(a - b for a, b in zip(t["check"], t["again"], strict=True))
    print(f"\nfaithfulness ({distinct - 1} distinct maps of {len(names)} methods + random, {steps} steps): "
          f"{r_faith:.2f}x the batched forwards of its {len(batch)} images (target {METRIC_TARGET})")
    print(f"randomisation_check ({len(names)} methods, k=1): {r_rand:.2f}x the compiled maps of the randomised model "
          f"(target {METRIC_TARGET}); {extra * 1e3:.0f} ms more (weights redrawn and put back, Spearman)")


if __name__ == "__main__":
    main()

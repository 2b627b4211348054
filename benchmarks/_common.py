"""What the benchmarks share: the references every loop is measured against, which are labkit's own compiled
passes (``labkit.models.input_gradient`` and ``compiled_forward``: the one input gradient and forward), and the
best-of-N timer."""

import time

from labkit import models


def best(fn, repeat: int = 3, warmup: bool = True) -> float:
    """Best of ``repeat`` runs of ``fn()`` in seconds, after one untimed warm-up run (tracing, caches) unless
    ``warmup`` is False."""
    if warmup:
        fn()
    times = []
    for _ in range(max(repeat, 1)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def input_gradient(model, size: int | None = None):
    """One compiled forward+backward: the gradient of the target logits w.r.t. the pixels, ``fn(x, t)``."""
    gradient = models.input_gradient(model, "logit")
    return lambda x, t: gradient(x, t)[1]


def forward(model, size: int | None = None):
    """One compiled forward: the logits, ``fn(x)``."""
    return models.compiled_forward(model, "logit")

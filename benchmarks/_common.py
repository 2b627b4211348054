"""What the benchmarks share: the references every loop is measured against, which are labkit's own compiled
passes (``labkit.models.input_gradient`` and ``compiled_forward``: the one input gradient and forward)."""

from labkit import models


def input_gradient(model, size: int | None = None):
    """One compiled forward+backward: the gradient of the target logits w.r.t. the pixels, ``fn(x, t)``."""
    gradient = models.input_gradient(model, "logit")
    return lambda x, t: gradient(x, t)[1]


def forward(model, size: int | None = None):
    """One compiled forward: the logits, ``fn(x)``."""
    return models.compiled_forward(model, "logit")

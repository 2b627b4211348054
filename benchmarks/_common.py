"""What the benchmarks share: the reference every loop is measured against."""

import tensorflow as tf

from labkit.models import logits_model


def input_gradient(model, size: int):
    """One compiled forward+backward: the gradient of the target logits w.r.t. the pixels, ``fn(x, t)``."""
    lm = logits_model(model)

    @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32), tf.TensorSpec([None], tf.int32)])
    def fwd_bwd(x, t):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(tf.gather(lm(x, training=False), t, axis=1, batch_dims=1))
        return tape.gradient(score, x)

    return fwd_bwd

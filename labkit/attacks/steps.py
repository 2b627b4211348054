"""The attacks' compiled steps, one ``tf.function`` each, built once per model (``labkit.models.cache``):
``fool`` (CS231n's normalised step on the target's logit), ``pgd`` (signed cross-entropy step, projected)
and ``visualise`` (CS231n's class-visualisation step: jitter, L2-regularised ascent, clamp, blur).

Our own loops, a few lines each: tf-keras-vis' ActivationMaximization steps a Keras optimiser eagerly and
has no blur, and no maintained Keras 3 library has CS231n's fooling rule.
"""

from __future__ import annotations

from labkit.attacks.units import CS231N_MEAN, CS231N_STD, blur_graph, image_norm
from labkit.errors import LabkitError
from labkit.models import batch_signature, cached, logits_model, score_gradient, target_score

STEPS = ("fool", "pgd", "visualise")


def compiled_step(model, kind: str):
    """The ``tf.function`` step of a loop (``fool``, ``pgd``, ``visualise``) on ``model``'s logits, built once
    per model. ``compiled_step(...).python_function`` is the same step run eagerly (the seed's way; benchmarks).
    """
    builders = {"fool": _build_fool, "pgd": _build_pgd, "visualise": _build_visualise}
    if kind not in builders:
        raise LabkitError(f"unknown step {kind!r}; one of {', '.join(builders)}")
    return cached(model, ("attack_step", kind), lambda: builders[kind](logits_model(model)))


def _build_fool(lm):
    import tensorflow as tf

    images, labels = batch_signature(lm)
    scale = tf.constant(255.0 * CS231N_STD)  # d pixel / d CS231n unit

    @tf.function(input_signature=[images, labels, tf.TensorSpec([], tf.float32)])
    def fool(x, target, lr):
        """CS231n: ``z += lr * g / ||g||_2`` on the target's logit (``z`` in CS231n units); no step once fooled."""
        logits, _, g = score_gradient(lm, x, target)
        g = g * scale  # d score / d z
        hit = tf.argmax(logits, axis=1, output_type=tf.int32) == target
        new = tf.clip_by_value(x + lr * g / image_norm(g) * scale, 0.0, 255.0)
        return tf.where(hit[:, None, None, None], x, new), hit

    return fool


def _build_pgd(lm):
    import tensorflow as tf

    images, labels = batch_signature(lm)
    scalar = tf.TensorSpec([], tf.float32)

    @tf.function(input_signature=[images, images, labels, scalar, scalar, tf.TensorSpec([], tf.bool)])
    def pgd(x, x0, target, step_size, eps, early_stop):
        """Targeted signed-gradient step on the cross-entropy, projected on ``|x - x0| <= eps`` and 0..255."""
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = lm(x, training=False)
            loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(target, logits))
        g = tape.gradient(loss, x)
        hit = tf.argmax(logits, axis=1, output_type=tf.int32) == target
        new = tf.clip_by_value(tf.clip_by_value(x - step_size * tf.sign(g), x0 - eps, x0 + eps), 0.0, 255.0)
        return tf.where((hit & early_stop)[:, None, None, None], x, new), hit

    return pgd


def _build_visualise(lm):
    import tensorflow as tf

    images, labels = batch_signature(lm)
    scalar = tf.TensorSpec([], tf.float32)
    scale, mean = tf.constant(255.0 * CS231N_STD), tf.constant(255.0 * CS231N_MEAN)
    lo, hi = tf.constant(-CS231N_MEAN / CS231N_STD), tf.constant((1.0 - CS231N_MEAN) / CS231N_STD)

    @tf.function(input_signature=[images, labels, tf.TensorSpec([2], tf.int32), scalar, scalar,
                                  tf.TensorSpec([], tf.bool), tf.TensorSpec([None], tf.float32)])
    def visualise(z, target, shift, lr, l2_reg, do_blur, kernel):
        """CS231n: jitter; ascend ``s_y - l2_reg * ||z||^2`` by ``lr * g / ||g||``; unjitter; clamp; maybe blur."""
        zj = tf.roll(z, shift, axis=[1, 2])
        with tf.GradientTape() as tape:
            tape.watch(zj)
            logits = lm(zj * scale + mean, training=False)
            score = target_score(logits, target)
            objective = tf.reduce_sum(score - l2_reg * tf.reduce_sum(tf.square(zj), axis=[1, 2, 3]))
        g = tape.gradient(objective, zj)
        z = tf.clip_by_value(tf.roll(zj + lr * g / image_norm(g), -shift, axis=[1, 2]), lo, hi)  # = 0..255
        z = tf.cond(do_blur, lambda: blur_graph(z, kernel), lambda: z)
        return z, target_score(tf.nn.softmax(logits), target)

    return visualise

"""Lab 1's exercises (seeds 000 and 003): a per-image score, the rectified rule as a tf-keras-vis model modifier,
and Grad-CAM from a layer's activations and gradients."""

from __future__ import annotations

import numpy as np

from labkit.exercises._common import as_array, images, same, seed_of, shape_problem, tiny
from labkit.exercises._spec import Checker


class ScoreFunction(Checker):
    """1.1: ``score_function(targets)`` returns tf-keras-vis' score ``f(output) -> output[i][targets[i]]``."""

    def _scores(self, functions, outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        score = functions["score_function"]([int(t) for t in targets])
        return as_array([float(s) for s in score(tf.constant(outputs))], "the score")

    def public(self, functions) -> list[str]:
        outputs = np.random.default_rng(0).normal(size=(3, 10)).astype(np.float32)
        targets = np.array([1, 7, 1])
        got = self._scores(functions, outputs, targets)
        if got.shape != (3,):
            return [f"for 3 images the score should give 3 numbers, got shape {got.shape}"]
        if not same(got, outputs[np.arange(3), targets], 1e-6):
            return ["the score of image i should be output[i][targets[i]], its own target's output"]
        return []

    def inputs(self, seed: int):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(3, 7))
        return {"outputs": rng.normal(size=(n, 20)).astype(np.float32), "targets": rng.integers(0, 20, n)}

    def run(self, functions, inputs):
        return {"scores": self._scores(functions, inputs["outputs"], inputs["targets"])}

    def grade(self, inputs, outputs):
        want = inputs["outputs"][np.arange(len(inputs["targets"])), inputs["targets"]]
        return same(outputs["scores"], want, 1e-6), "the scores are not each image's own target's output"


class Rectified(Checker):
    """1.2: ``RectifiedBackpropagation``, a tf-keras-vis ``ModelModifier``: the gradient of every ReLU-family
    activation passes where the incoming gradient is positive, whatever the forward input."""

    def _maps(self, functions, kind: str, seed: int, targets) -> np.ndarray:
        import warnings

        from tf_keras_vis.saliency import Saliency
        from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
        from tf_keras_vis.utils.scores import CategoricalScore

        modifier = functions["RectifiedBackpropagation"]()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tool = Saliency(tiny(kind), model_modifier=[ReplaceToLinear(), modifier])
            return as_array(tool(CategoricalScore([int(t) for t in targets]), images(seed)), "the map")

    def _reference(self, kind: str, seed: int, targets) -> np.ndarray:
        from labkit import attribution

        return attribution.saliency(tiny(kind), images(seed), [int(t) for t in targets], "rectified")

    def public(self, functions) -> list[str]:
        for kind in ("relu", "relu6"):
            got = self._maps(functions, kind, 1, [3, 5])
            problems = shape_problem(got, (2, 32, 32), "the saliency map")
            if problems:
                return problems
            if not same(got, self._reference(kind, 1, [3, 5]), 1e-4):
                return [f"on a {kind} model, saliency through your modifier is not the rectified rule's: the gradient "
                        "should pass wherever the incoming gradient is positive (whatever the forward input), and "
                        "every ReLU-family activation (relu, relu6) should be patched"]
        return []

    def inputs(self, seed: int):
        rng = np.random.default_rng(seed)
        return {"seed": np.array(seed), "targets": rng.integers(0, 1000, 2)}

    def run(self, functions, inputs):
        return {kind: self._maps(functions, kind, seed_of(inputs), inputs["targets"]) for kind in ("relu", "relu6")}

    def grade(self, inputs, outputs):
        ok = all(same(outputs[kind], self._reference(kind, seed_of(inputs), inputs["targets"]), 1e-4)
                 for kind in ("relu", "relu6"))
        return ok, "saliency through the modifier is not the rectified rule's"


def gradcam_reference(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Grad-CAM at the layer's resolution from its activations and the target's gradients ``(n, h, w, c)``:
    channels weighted by their mean gradient, summed, ReLU (upsampling and scaling to 0..1 come after)."""
    weights = gradients.mean(axis=(1, 2), keepdims=True)
    return np.maximum((activations * weights).sum(axis=-1), 0)


class GradcamFrom(Checker):
    """1.3: ``gradcam_from(activations, gradients)``: Grad-CAM ``(n, h, w)`` at the CAM layer's resolution (channels
    weighted by their mean gradient, summed, ReLU); labkit upsamples it and scales it to 0..1."""

    def _pair(self, seed: int, n: int = 2, side: int = 7, channels: int = 16):
        rng = np.random.default_rng(seed)
        acts = np.maximum(rng.normal(size=(n, side, side, channels)), 0).astype(np.float32)
        return acts, rng.normal(size=acts.shape).astype(np.float32)

    def public(self, functions) -> list[str]:
        acts, grads = self._pair(2)
        got = as_array(functions["gradcam_from"](acts, grads), "the map")
        problems = shape_problem(got, (2, 7, 7), "Grad-CAM of 2 images at a 7x7 layer")
        if problems:
            return problems
        if got.min() < -1e-6:
            return ["Grad-CAM keeps the positive part of the weighted sum (a ReLU)"]
        if not same(got, gradcam_reference(acts, grads), 1e-5, 1e-4):
            return ["the maps are not Grad-CAM's: weight each channel by its gradient's mean over the map, sum the "
                    "weighted channels, and keep the positive part"]
        return []

    def inputs(self, seed: int):
        acts, grads = self._pair(seed, n=3, side=5, channels=24)
        return {"activations": acts, "gradients": grads}

    def run(self, functions, inputs):
        return {"cam": as_array(functions["gradcam_from"](inputs["activations"], inputs["gradients"]), "the map")}

    def grade(self, inputs, outputs):
        return (same(outputs["cam"], gradcam_reference(inputs["activations"], inputs["gradients"]), 1e-5, 1e-4),
                "the maps are not Grad-CAM's on the grader's activations")

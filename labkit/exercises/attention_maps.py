"""Lab 1's exercises: a per-image score, the rectified rule as a tf-keras-vis model modifier, and Grad-CAM from a
layer's activations and gradients."""

from __future__ import annotations

import numpy as np

from labkit.exercises._common import RELU, RELU6, close, images, shape_problem, tiny
from labkit.exercises._spec import Checker
from labkit.exercises.harness import Case, Model


class ScoreFunction(Checker):
    """1.1: ``score_function(targets)`` returns tf-keras-vis' score ``f(output) -> output[i][targets[i]]``."""

    WRONG = "the score of image i should be output[i][targets[i]], its own target's output"

    def public_cases(self) -> list[Case]:
        out = np.random.default_rng(0).normal(size=(3, 10)).astype(np.float32)
        return [Case("score_function", (out, np.array([1, 7, 1])))]

    def cases(self, seed: int) -> list[Case]:
        rng = np.random.default_rng(seed)

        def case(n, targets, about):
            return Case("score_function", (rng.normal(size=(n, 20)).astype(np.float32), np.asarray(targets)), {},
                        about)

        n = int(rng.integers(4, 8))
        twice = rng.integers(0, 20, n)
        twice[-1] = twice[0]
        return [case(1, rng.integers(0, 20, 1), "one image"),
                case(n, rng.permutation(20)[:n], "a target per image"),
                case(n, twice, "two images with the same target")]

    def grade(self, case: Case, out, public: bool = False) -> str:
        logits, targets = case.args
        scores = out["scores"]
        if scores.shape != (len(targets),):
            return (f"for {len(targets)} images the score should give {len(targets)} numbers, got shape "
                    f"{scores.shape}" if public else "the score should give one number per image")
        return "" if close(scores, logits[np.arange(len(targets)), targets], 1e-6) else self.WRONG


class Rectified(Checker):
    """1.2: ``RectifiedBackpropagation``, a tf-keras-vis ``ModelModifier``: the gradient of every ReLU-family
    activation passes where the incoming gradient is positive, whatever the forward input."""

    def _reference(self, model: Model, x, targets) -> np.ndarray:
        from labkit import attribution

        return attribution.saliency(tiny(model), x, [int(t) for t in targets], "rectified")

    def _problem(self, model: Model, x, targets, got, public: bool) -> str:
        problem = shape_problem(got, x.shape[:3], "the saliency map", public)
        if problem:
            return problem
        if close(got, self._reference(model, x, targets), 1e-4):
            return ""
        what = f"on a {model.kind} model, " if public else ""
        return (f"{what}saliency through your modifier is not the rectified rule's: the gradient should pass wherever "
                "the incoming gradient is positive (whatever the forward input), and every ReLU-family activation "
                "(relu, relu6), in every layer, should be patched")

    def public_cases(self) -> list[Case]:
        return [Case("modifier", (model, images(1), np.array([3, 5]))) for model in (RELU, RELU6)]

    def cases(self, seed: int) -> list[Case]:
        rng = np.random.default_rng(seed)
        out = []
        for model, n, about in ((RELU, 2, "a relu network"), (RELU6, 1, "a relu6 network"),
                                (Model("relu", hidden=16), 2, "a relu network with a dense hidden layer")):
            out.append(Case("modifier", (model, images(int(rng.integers(1 << 30)), n), rng.integers(0, 1000, n)),
                            {}, about))
        return out

    def grade(self, case: Case, out, public: bool = False) -> str:
        model, x, targets = case.args
        return self._problem(model, x, targets, out["map"], public)


def gradcam_reference(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Grad-CAM at the layer's resolution from its activations and the target's gradients ``(n, h, w, c)``:
    channels weighted by their mean gradient, summed, ReLU (upsampling and scaling to 0..1 come after)."""
    a, g = np.asarray(activations, np.float64), np.asarray(gradients, np.float64)
    return np.maximum((a * g.mean(axis=(1, 2), keepdims=True)).sum(axis=-1), 0)


class GradcamFrom(Checker):
    """1.3: ``gradcam_from(activations, gradients)``: Grad-CAM ``(n, h, w)`` at the CAM layer's resolution (channels
    weighted by their mean gradient, summed, ReLU); labkit upsamples it and scales it to 0..1."""

    @staticmethod
    def _pair(rng, n: int, h: int, w: int, channels: int, zero: bool = False):
        acts = np.maximum(rng.normal(size=(n, h, w, channels)), 0).astype(np.float32)
        grads = np.zeros_like(acts) if zero else rng.normal(size=acts.shape).astype(np.float32)
        return acts, grads

    def public_cases(self) -> list[Case]:
        return [Case("gradcam_from", self._pair(np.random.default_rng(2), 2, 7, 7, 16))]

    def cases(self, seed: int) -> list[Case]:
        rng = np.random.default_rng(seed)
        side = int(rng.integers(4, 9))
        return [Case("gradcam_from", self._pair(rng, 3, side, side, int(rng.integers(8, 40))), {}, "a square layer"),
                Case("gradcam_from", self._pair(rng, 2, side, side + int(rng.integers(1, 4)), 12), {},
                     "a layer wider than it is high"),
                Case("gradcam_from", self._pair(rng, 1, side, side, 8, zero=True), {}, "a zero gradient")]

    def grade(self, case: Case, out, public: bool = False) -> str:
        acts, grads = case.args
        cam = out["cam"]
        problem = shape_problem(cam, acts.shape[:3], "Grad-CAM of the batch at this layer", public)
        if problem:
            return problem if public else "Grad-CAM should have one value per image and position of the layer"
        if cam.min() < 0:
            return "Grad-CAM keeps the positive part of the weighted sum (a ReLU)"
        if close(cam, gradcam_reference(acts, grads), 1e-5, 1e-7):
            return ""
        return ("the maps are not Grad-CAM's: weight each channel by its gradient's mean over the map, sum the "
                "weighted channels, and keep the positive part")

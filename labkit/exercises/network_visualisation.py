"""Lab 2's exercises (CS231n): saliency maps, the fooling loop, one class-visualisation update."""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np

from labkit.exercises._common import RELU, TANH10, close, images, shape_problem, tiny
from labkit.exercises._spec import Checker
from labkit.exercises.harness import Case, Model, call_case


def saliency_reference(model, x: np.ndarray, targets) -> np.ndarray:
    """``max over colour channels of |d logit / d pixel|`` of each image's target, not normalised."""
    from labkit import models

    _, grad = models.input_gradient(model, "logit")(x, np.asarray(targets, np.int32))
    return np.abs(grad.numpy()).max(axis=-1)


class SaliencyMap(Checker):
    """2.1: ``saliency_map(model, x, targets)``: ``(n, h, w)``, max over colour of |d logit / d pixel|."""

    def public_cases(self) -> list[Case]:
        return [Case("saliency_map", (TANH10, images(3), np.array([2, 6])))]

    def cases(self, seed: int) -> list[Case]:
        rng = np.random.default_rng(seed)

        def seeded(n):
            return images(int(rng.integers(1 << 30)), n)

        twice = rng.permutation(10)[:3]
        twice[2] = twice[0]
        return [Case("saliency_map", (TANH10, seeded(1), rng.integers(0, 10, 1)), {}, "one image"),
                Case("saliency_map", (TANH10, seeded(3), rng.permutation(10)[:3]), {}, "a target per image"),
                Case("saliency_map", (TANH10, seeded(3), twice), {}, "two images with the same target"),
                Case("saliency_map", (RELU, seeded(2), rng.permutation(1000)[:2]), {}, "a 1000-class relu network")]

    def grade(self, case: Case, out, public: bool = False) -> str:
        model, x, targets = case.args
        got = out["map"]
        problem = shape_problem(got, x.shape[:3], "the saliency maps of the batch", public)
        if problem:
            return problem if public else "the maps should have one value per image and pixel"
        if close(got, saliency_reference(tiny(model), x, targets), 1e-4, 1e-8):
            return ""
        return ("the maps are not max over colour channels of |d score / d pixel|, where the score is each image's "
                "own target's logit (before the softmax: labkit.models.logits_model), unnormalised")


def fooling_reference(model: Model, x: np.ndarray, target: int, lr: float, max_iterations: int):
    """labkit's fooling loop on one image: (the image, the steps it took)."""
    x = np.ascontiguousarray(x, np.float32)
    image, steps = _fooling_loop(model, x.tobytes(), x.shape, int(target), float(lr), int(max_iterations))
    return image.copy(), steps


@lru_cache(maxsize=64)  # a student's grading asks again for the loops that drawing the cases ran moments before
def _fooling_loop(model: Model, data: bytes, shape: tuple, target: int, lr: float, max_iterations: int):
    from labkit import attacks
    from labkit.errors import uncapped

    x = np.frombuffer(data, np.float32).reshape(shape)
    with uncapped():  # a student's loop takes its steps whatever LABKIT_MAX_STEPS says
        r = attacks.fooling_images(tiny(model), x[None], [target], learning_rate=lr, steps=max_iterations,
                                   progress=False)
    return r.images[0], int(r.iterations[0])


def _margin(model: Model, x: np.ndarray, target: int) -> float:
    """The target's logit minus the largest other logit (> 0: the model predicts the target)."""
    from labkit import models

    logits = models.predict(tiny(model), x[None], output="logit")[0].astype(np.float64)
    return float(logits[target] - np.delete(logits, target).max())


MARGIN = 0.05  # logit units either side of the decision: no correct implementation's rounding crosses it
CAP = 100  # CS231n's cap on steps


@cache
def _reachable(model: Model, seed: int, target: int, lr: float) -> int | None:
    """The steps labkit's loop takes on this image and target, if the target is reached with a clear margin
    before the cap (the step before it not classified as the target, the last one clearly so); else None."""
    x = images(seed, 1)[0]
    after, steps = fooling_reference(model, x, target, lr, CAP)  # stopped at `steps` < CAP: the image after them
    if not 1 <= steps <= CAP - 10:
        return None
    before, _ = fooling_reference(model, x, target, lr, steps - 1) if steps > 1 else (x, 0)
    if _margin(model, before, target) > -MARGIN or _margin(model, after, target) < MARGIN:
        return None
    return steps


class FoolingLoop(Checker):
    """2.2: ``make_fooling_image(model, x, target, lr=1.0, max_iterations=100) -> (image, iterations)``: CS231n's
    normalised gradient steps on the target's logit (in CS231n's units), pixels clamped to 0..255, stopping at
    the first image classified as the target."""

    STEPS = ("the number of steps differs: check the prediction before each step and stop at the first image "
             "classified as the target (0 steps when it already is), one step of lr * g / ||g||_2 at a time")
    RULE = ("the image differs from CS231n's rule: steps of lr * g / ||g||_2 in normalised units (g the gradient of "
            "the target's logit with respect to z), then pixels clamped to 0..255")

    def _problem(self, x, target, lr, cap, image, iterations, public: bool) -> str:
        from labkit import models

        want_image, want_steps = fooling_reference(TANH10, x, target, lr, cap)
        if image.shape != x.shape:
            return (f"the image should keep the input's shape {x.shape}, got {image.shape}" if public
                    else "the image should keep the input's shape")
        if not np.isfinite(image).all() or image.min() < -1e-3 or image.max() > 255 + 1e-3:
            return "pixels should stay in 0..255 (clamp after every step)"
        if int(np.ravel(iterations)[0]) != want_steps:
            return self.STEPS
        if want_steps < cap and int(models.predict(tiny(), image[None]).argmax()) != int(target):
            return "the image returned is not classified as the target"
        return "" if close(image, want_image, 2e-3) else self.RULE

    def public(self, functions) -> list[str]:
        x = images(4)[0]
        target = (int(np.argmax(_margins(x))) + 5) % 10
        one = Case("make_fooling_image", (TANH10, x, target), {"lr": 0.2, "max_iterations": 1})
        image = call_case(functions, one)["image"]
        if not close(image, fooling_reference(TANH10, x, target, 0.2, 1)[0], 2e-3):
            return ["one step (max_iterations=1, lr=0.2) is not CS231n's: z += lr * g / ||g||_2 in normalised units "
                    "(g the gradient of the target's logit with respect to z), then pixels clamped to 0..255"]
        full = call_case(functions, Case("make_fooling_image", (TANH10, x, target)))
        problem = self._problem(x, target, 1.0, CAP, full["image"], full["iterations"], True)
        return [problem] if problem else []

    def cases(self, seed: int) -> list[Case]:
        rng = np.random.default_rng(seed)
        picked: list[Case] = []
        for _ in range(200):  # candidates until three reachable ones: a correct loop must be able to get there
            s, lr = int(rng.integers(1 << 30)), float(rng.choice([0.5, 1.0, 2.0]))
            x = images(s, 1)[0]
            target = (int(np.argmax(_margins(x))) + int(rng.integers(1, 10))) % 10
            if _reachable(TANH10, s, target, lr) is not None:
                kwargs = {"lr": lr} if len(picked) % 2 else {"lr": lr, "max_iterations": CAP}
                picked.append(Case("make_fooling_image", (TANH10, x, target), kwargs, "a target it can reach"))
            if len(picked) == 3:
                break
        x = images(int(rng.integers(1 << 30)), 1)[0]
        picked.append(Case("make_fooling_image", (TANH10, x, int(np.argmax(_margins(x)))), {"lr": 1.0},
                           "a target the model already predicts"))
        return picked

    def grade(self, case: Case, out, public: bool = False) -> str:
        _, x, target = case.args
        lr, cap = case.kwargs.get("lr", 1.0), case.kwargs.get("max_iterations", CAP)
        return self._problem(x, target, lr, cap, out["image"], out["iterations"], public)


def _margins(x: np.ndarray) -> np.ndarray:
    from labkit import models

    return models.predict(tiny(), x[None], output="logit")[0]


def demo_case(image: np.ndarray, target: int, lr: float, max_iterations: int, model: str) -> Case:
    """The lab's own fooling demo on a registry model: the student's loop, run by the grader."""
    return Case("make_fooling_image", (Model("registry", name=model), image, int(target)),
                {"lr": float(lr), "max_iterations": int(max_iterations)}, "the lab's photo and target")


class VisualiseStep(Checker):
    """2.3: ``visualise_step(model, z, target, shift, l2_reg, lr, blur)``: one class-visualisation update in
    CS231n's units: roll by ``shift``, ascend ``s_y - l2_reg * ||z||^2`` by ``lr * g / ||g||``, roll back, clamp
    to valid pixels, and blur (sigma 0.5) when ``blur``."""

    def _reference(self, z, target, shift, l2_reg, lr, blur):
        import tensorflow as tf

        from labkit import attacks

        step = attacks.compiled_step(tiny(), "visualise")
        new, _ = step(tf.constant(z[None]), tf.constant([int(target)], tf.int32), tf.constant(shift, tf.int32),
                      tf.constant(lr, tf.float32), tf.constant(l2_reg, tf.float32), tf.constant(bool(blur)),
                      tf.constant(attacks.gaussian_kernel(0.5)))
        return new.numpy()[0]

    @staticmethod
    def _z(seed):
        from labkit import attacks

        return attacks.to_cs231n(images(seed, 1)[0])

    def public_cases(self) -> list[Case]:
        return [Case("visualise_step", (TANH10, self._z(5), 4, (3, 5), 1e-3, 25.0, blur)) for blur in (False, True)]

    def cases(self, seed: int) -> list[Case]:
        rng = np.random.default_rng(seed)
        out = []
        for blur in (False, True, False, True):
            dy = int(rng.integers(1, 9))
            shift = (dy, (dy + int(rng.integers(1, 8))) % 9)  # never the same on both axes: a swap shows
            args = (TANH10, self._z(int(rng.integers(1 << 30))), int(rng.integers(0, 10)), shift,
                    float(rng.uniform(1e-4, 1e-2)), float(rng.uniform(5, 30)), blur)
            out.append(Case("visualise_step", args, {}, "blur on" if blur else "blur off"))
        return out

    def grade(self, case: Case, out, public: bool = False) -> str:
        _, z, target, shift, l2_reg, lr, blur = case.args
        got = out["z"]
        problem = shape_problem(got, z.shape, "the updated image", public)
        if problem:
            return problem if public else "the updated image should keep z's shape"
        if close(got, self._reference(z, target, shift, l2_reg, lr, blur), 2e-4):
            return ""
        if blur:
            return ("the update is not CS231n's with the blur step: roll, ascend, roll back, clamp, then blur "
                    "(Gaussian, sigma 0.5)")
        return ("the update is not CS231n's step: roll by (dy, dx) on the image's two axes, ascend s_y - l2_reg "
                "||z||^2 by lr g/||g||, roll back, clamp to valid pixels")

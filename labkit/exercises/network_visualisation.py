"""Lab 2's exercises (seed 004, CS231n): saliency maps, the fooling loop, one class-visualisation update."""

from __future__ import annotations

import numpy as np

from labkit.exercises._common import as_array, images, same, seed_of, shape_problem, tiny
from labkit.exercises._spec import Checker


def saliency_reference(model, x: np.ndarray, targets) -> np.ndarray:
    """``max over colour channels of |d logit / d pixel|`` of each image's target, not normalised."""
    from labkit import models

    _, grad = models.input_gradient(model, "logit")(x, np.asarray(targets, np.int32))
    return np.abs(grad.numpy()).max(axis=-1)


class SaliencyMap(Checker):
    """2.1: ``saliency_map(model, x, targets)``: ``(n, h, w)``, max over colour of |d logit / d pixel|."""

    def public(self, functions) -> list[str]:
        model, x = tiny(), images(3)
        got = as_array(functions["saliency_map"](model, x, np.array([2, 6])), "the saliency map")
        problems = shape_problem(got, (2, 32, 32), "the saliency map of 2 images")
        if problems:
            return problems
        if not same(got, saliency_reference(model, x, [2, 6]), 1e-5, 1e-3):
            return ["the map is not max over colour channels of |d score / d pixel|, where the score is the "
                    "target's logit (before the softmax: labkit.models.logits_model), unnormalised"]
        return []

    def inputs(self, seed: int):
        return {"seed": np.array(seed), "targets": np.random.default_rng(seed).integers(0, 10, 2)}

    def run(self, functions, inputs):
        x = images(seed_of(inputs))
        return {"map": as_array(functions["saliency_map"](tiny(), x, inputs["targets"]), "the saliency map")}

    def grade(self, inputs, outputs):
        want = saliency_reference(tiny(), images(seed_of(inputs)), inputs["targets"])
        return same(outputs["map"], want, 1e-5, 1e-3), "the saliency maps differ from |d logit / d pixel|"


class FoolingLoop(Checker):
    """2.2: ``make_fooling_image(model, x, target, lr=1.0, max_iterations=100) -> (image, iterations)``: CS231n's
    normalised gradient steps on the target's logit (in CS231n's units), pixels clamped to 0..255, stopping at
    the first image classified as the target."""

    def _reference(self, x, target, lr, max_iterations=100):
        from labkit import attacks

        r = attacks.fooling_images(tiny(), x[None], [int(target)], lr=float(lr), max_iterations=max_iterations,
                                   progress=False)
        return r.images[0], int(r.iterations[0])

    def _problems(self, image, iterations, x, target, lr) -> list[str]:
        from labkit import models

        want_image, want_steps = self._reference(x, target, lr)
        if image.shape != x.shape:
            return [f"the image should keep the input's shape {x.shape}, got {image.shape}"]
        if image.min() < -1e-3 or image.max() > 255 + 1e-3:
            return ["pixels should stay in 0..255 (clamp after every step)"]
        if int(models.predict(tiny(), image[None]).argmax()) != int(target):
            return ["the image returned is not classified as the target"]
        if abs(iterations - want_steps) > 1:
            return [f"{iterations} steps: stop at the first image classified as the target, and take steps of "
                    "lr * g / ||g|| in CS231n's units (g the gradient of the target's logit)"]
        if not same(image, want_image, 0.5, 0.02):
            return ["the image differs from CS231n's rule: steps of lr * g / ||g||_2 in normalised units, then "
                    "clamped to valid pixels"]
        return []

    @staticmethod
    def _other_class(x, offset: int) -> int:
        """A class the tiny model does not already give ``x``, so that the loop has to move."""
        from labkit import models

        return (int(models.predict(tiny(), x[None]).argmax()) + offset) % 10

    def public(self, functions) -> list[str]:
        x = images(4)[0]
        target = self._other_class(x, 5)
        image, _ = functions["make_fooling_image"](tiny(), x.copy(), target, lr=0.2, max_iterations=1)
        if not same(as_array(image, "the image"), self._reference(x, target, 0.2, 1)[0], 0.05, 1e-3):
            return ["one step (max_iterations=1, lr=0.2) is not CS231n's: z += lr * g / ||g||_2 in normalised units "
                    "(g the gradient of the target's logit with respect to z), then pixels clamped to 0..255"]
        image, iterations = functions["make_fooling_image"](tiny(), x.copy(), target)
        return self._problems(as_array(image, "the image"), int(iterations), x, target, 1.0)

    def inputs(self, seed: int):
        rng = np.random.default_rng(seed)
        target = self._other_class(images(seed)[0], int(rng.integers(1, 10)))
        return {"seed": np.array(seed), "target": np.array(target), "lr": np.array(0.5)}

    def run(self, functions, inputs):
        x = images(seed_of(inputs))[0]
        image, iterations = functions["make_fooling_image"](tiny(), x.copy(), int(inputs["target"]),
                                                            lr=float(inputs["lr"]))
        return {"image": as_array(image, "the image"), "iterations": np.array(int(iterations))}

    def grade(self, inputs, outputs):
        x = images(seed_of(inputs))[0]
        problems = self._problems(outputs["image"], int(outputs["iterations"]), x, int(inputs["target"]),
                                  float(inputs["lr"]))
        return not problems, "the fooling loop does not follow CS231n's rule on the grader's image and target"


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

    def _z(self, seed):
        from labkit import attacks

        return attacks.to_cs231n(images(seed)[0])

    def public(self, functions) -> list[str]:
        z = self._z(5)
        for blur in (False, True):
            got = as_array(functions["visualise_step"](tiny(), z.copy(), 4, (3, 5), 1e-3, 25.0, blur), "z")
            problems = shape_problem(got, z.shape, "the updated image")
            if problems:
                return problems
            if not same(got, self._reference(z, 4, (3, 5), 1e-3, 25.0, blur), 1e-3):
                return ["the update is not CS231n's " + ("blur step (Gaussian, sigma 0.5, after the clamp)" if blur
                                                         else "step: roll, ascend s_y - l2_reg ||z||^2 by lr g/||g||, "
                                                              "roll back, clamp to valid pixels")]
        return []

    def inputs(self, seed: int):
        rng = np.random.default_rng(seed)
        return {"seed": np.array(seed), "target": np.array(rng.integers(0, 10)), "shift": rng.integers(0, 9, 2),
                "l2_reg": np.array(rng.uniform(1e-4, 1e-2)), "lr": np.array(rng.uniform(5, 30)),
                "blur": np.array(bool(rng.integers(0, 2)))}

    def run(self, functions, inputs):
        args = (int(inputs["target"]), tuple(int(s) for s in inputs["shift"]), float(inputs["l2_reg"]),
                float(inputs["lr"]), bool(inputs["blur"]))
        return {"z": as_array(functions["visualise_step"](tiny(), self._z(seed_of(inputs)), *args), "z")}

    def grade(self, inputs, outputs):
        want = self._reference(self._z(seed_of(inputs)), int(inputs["target"]), tuple(int(s) for s in inputs["shift"]),
                               float(inputs["l2_reg"]), float(inputs["lr"]), bool(inputs["blur"]))
        return same(outputs["z"], want, 1e-3), "the update differs from CS231n's class-visualisation step"

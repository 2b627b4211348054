"""Lab 3's exercises (seed 002): the seed's noise generator, the confidence statistics, occlusion's sliding
window."""

from __future__ import annotations

import numpy as np

from labkit.exercises._common import as_array, images, same, seed_of, shape_problem, tiny
from labkit.exercises._spec import Checker


class SeedNoise(Checker):
    """3.1: ``seed_noise(n, size, seed)``: the seed's generator, ``np.random.seed(seed)`` then, per image,
    ``(np.random.standard_normal([size, size, 3]) * 255)`` cast to uint8, wrapping around (modulo 256)."""

    def _reference(self, n, size, seed):
        from labkit import images as photos

        return photos.seed002_noise(n, size=size, seed=seed)

    def public(self, functions) -> list[str]:
        got = np.asarray(functions["seed_noise"](2, 16, 0))
        problems = shape_problem(got, (2, 16, 16, 3), "2 noise images of 16x16")
        if problems:
            return problems
        if got.dtype != np.uint8:
            return [f"the images should be uint8, as the seed's, got {got.dtype}"]
        if not np.array_equal(got, self._reference(2, 16, 0)):
            return ["the images are not the seed's: seed NumPy's legacy generator (np.random.seed), draw a standard "
                    "normal per image, times 255, and keep it modulo 256 as the seed's cast to uint8 does"]
        return []

    def inputs(self, seed: int):
        rng = np.random.default_rng(seed)
        return {"n": np.array(rng.integers(2, 5)), "size": np.array(rng.integers(8, 24)), "seed": np.array(seed % 9973)}

    def run(self, functions, inputs):
        return {"noise": np.asarray(functions["seed_noise"](int(inputs["n"]), int(inputs["size"]), seed_of(inputs)))}

    def grade(self, inputs, outputs):
        want = self._reference(int(inputs["n"]), int(inputs["size"]), seed_of(inputs))
        got = outputs["noise"]
        return got.dtype == np.uint8 and np.array_equal(got, want), "the noise is not the seed's generator's"


STATS = ("count", "mean", "std", "min", "25%", "50%", "75%", "max")


class ConfidenceStats(Checker):
    """3.2: ``confidence_stats(confidences) -> dict``: the seed's ``describe()`` of the top-1 confidences: count,
    mean, std (n - 1 in the denominator, as pandas), min, quartiles (25%, 50%, 75%, linear interpolation), max."""

    def _reference(self, values):
        import pandas as pd

        return pd.Series(values).describe()

    def _problems(self, got, values) -> list[str]:
        if not isinstance(got, dict) or set(got) != set(STATS):
            return [f"the result should be a dict with the keys {', '.join(STATS)}"]
        want = self._reference(values)
        wrong = [k for k in STATS if not np.isclose(float(got[k]), float(want[k]), rtol=1e-9, atol=1e-12)]
        return [f"wrong statistics: {', '.join(wrong)}"] if wrong else []

    def public(self, functions) -> list[str]:
        values = np.random.default_rng(1).uniform(0, 1, 11)
        return self._problems(functions["confidence_stats"](values), values)

    def inputs(self, seed: int):
        rng = np.random.default_rng(seed)
        return {"values": rng.beta(2, 5, int(rng.integers(20, 60)))}

    def run(self, functions, inputs):
        got = functions["confidence_stats"](inputs["values"])
        if not isinstance(got, dict):
            return {"keys": np.array([]), "values": np.array([])}
        return {"keys": np.array(list(got), dtype=str), "values": as_array([got[k] for k in got], "the statistics")}

    def grade(self, inputs, outputs):
        got = dict(zip(outputs["keys"].tolist(), outputs["values"].tolist(), strict=True))
        problems = self._problems(got, inputs["values"])
        return not problems, problems[0] if problems else ""


class Occlusion(Checker):
    """3.3: ``occlusion_map(model, x, target, window, stride, baseline)``: a ``(h, w)`` map; each window of
    ``window x window`` pixels (every ``stride`` pixels, the last one cut at the border) set to ``baseline``,
    every pixel of it gets f(x) - f(occluded), averaged over the windows that cover it (f: the target's logit)."""

    def _reference(self, x, target, window, stride, baseline):
        from labkit import attribution

        return attribution.occlusion(tiny(), x[None], int(target), window=window, strides=stride, baseline=baseline,
                                     progress=False)[0, ..., 0]

    def _run(self, functions, x, target, window, stride, baseline):
        return as_array(functions["occlusion_map"](tiny(), x.copy(), target, window, stride, baseline), "the map")

    def public(self, functions) -> list[str]:
        x = images(6)[0]
        got = self._run(functions, x, 3, 8, 8, 0.0)
        problems = shape_problem(got, (32, 32), "the occlusion map of a 32x32 image")
        if problems:
            return problems
        if not same(got, self._reference(x, 3, 8, 8, 0.0), 1e-4, 1e-3):
            return ["the map is not occlusion's: for each window, the target's logit on the image minus on the "
                    "occluded copy, given to every pixel of the window"]
        if not same(self._run(functions, x, 3, 8, 4, 0.0), self._reference(x, 3, 8, 4, 0.0), 1e-4, 1e-3):
            return ["with overlapping windows (stride < window), each pixel should get the mean over the windows "
                    "that cover it"]
        return []

    def inputs(self, seed: int):
        rng = np.random.default_rng(seed)
        window = int(rng.integers(5, 12))
        return {"seed": np.array(seed), "target": np.array(rng.integers(0, 10)), "window": np.array(window),
                "stride": np.array(int(rng.integers(3, window + 1))), "baseline": np.array(float(rng.uniform(0, 255)))}

    def _args(self, inputs):
        return (int(inputs["target"]), int(inputs["window"]), int(inputs["stride"]), float(inputs["baseline"]))

    def run(self, functions, inputs):
        return {"map": self._run(functions, images(seed_of(inputs))[0], *self._args(inputs))}

    def grade(self, inputs, outputs):
        want = self._reference(images(seed_of(inputs))[0], *self._args(inputs))
        return same(outputs["map"], want, 1e-4, 1e-3), "the occlusion map differs on the grader's image"

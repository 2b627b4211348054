"""Lab 3's exercises: the report's noise generator, the confidence statistics, occlusion's sliding window."""

from __future__ import annotations

import numpy as np

from labkit.exercises._common import TANH10, close, images, shape_problem, tiny
from labkit.exercises._spec import Checker
from labkit.exercises.harness import Case


class SeedNoise(Checker):
    """3.1: ``seed_noise(n, size, seed)``: the report's generator, ``np.random.seed(seed)`` then, per image,
    ``(np.random.standard_normal([size, size, 3]) * 255)`` cast to uint8, wrapping around (modulo 256)."""

    def public_cases(self) -> list[Case]:
        return [Case("seed_noise", (2, 16, 0))]

    def cases(self, seed: int) -> list[Case]:
        rng = np.random.default_rng(seed)
        return [Case("seed_noise", (1, int(rng.integers(4, 12)) * 2 + 1, 0), {}, "seed 0"),
                Case("seed_noise", (int(rng.integers(2, 5)), int(rng.integers(8, 24)), int(rng.integers(1, 2**31))),
                     {}, "several images")]

    def grade(self, case: Case, out, public: bool = False) -> str:
        from labkit import images as photos

        n, size, seed = case.args
        got = out["noise"]
        if got.shape != (n, size, size, 3):
            return (f"{n} noise images of {size}x{size} should have shape {(n, size, size, 3)}, got {got.shape}"
                    if public else "the images should have shape (n, size, size, 3)")
        if got.dtype != np.uint8:
            return f"the images should be uint8, as the report's, got {got.dtype}"
        if np.array_equal(got, photos.seed002_noise(n, size=size, seed=seed)):
            return ""
        return ("the images are not the report's: seed NumPy's legacy generator with the seed given (np.random.seed, "
                "whatever its value), draw a standard normal per image, times 255, and keep it modulo 256 as the "
                "report's cast to uint8 does")


STATS = ("count", "mean", "std", "min", "25%", "50%", "75%", "max")


class ConfidenceStats(Checker):
    """3.2: ``confidence_stats(confidences) -> dict``: the report's ``describe()`` of the top-1 confidences: count,
    mean, std (n - 1 in the denominator, as pandas), min, quartiles (25%, 50%, 75%, linear interpolation), max."""

    def public_cases(self) -> list[Case]:
        return [Case("confidence_stats", (np.random.default_rng(1).uniform(0, 1, 11),))]

    def cases(self, seed: int) -> list[Case]:
        rng = np.random.default_rng(seed)
        n = 4 * int(rng.integers(5, 15)) + int(rng.integers(2, 4))  # quartiles between two values
        ties = np.round(rng.beta(2, 5, n + 1), 2)
        return [Case("confidence_stats", (rng.beta(2, 5, n),), {}, "confidences between two quartile ranks"),
                Case("confidence_stats", (rng.uniform(0, 1, n + 2).astype(np.float32),), {}, "float32 confidences"),
                Case("confidence_stats", (ties,), {}, "repeated confidences"),
                Case("confidence_stats", (rng.uniform(0, 1, 2),), {}, "two confidences")]

    def grade(self, case: Case, out, public: bool = False) -> str:
        import pandas as pd

        (values,) = case.args
        keys, got = out["keys"].tolist(), out["values"]
        if sorted(keys) != sorted(STATS) or len(got) != len(keys):
            return f"the result should be a dict with the keys {', '.join(STATS)}"
        want = pd.Series(np.asarray(values, np.float64)).describe()
        given = dict(zip(keys, got.tolist(), strict=True))
        # float32 rounds each value by ~6e-8 of its size, so a statistic moves by ~1e-7 of the largest value (a std
        # of two close values: 1e-5 of itself); the smallest planted bug moves a statistic 1e-3
        scale = max(float(np.abs(np.asarray(values, np.float64)).max(initial=0.0)), 1e-3)
        wrong = [k for k in STATS if not abs(given[k] - want[k]) <= 1e-5 * max(abs(want[k]), scale)]
        return f"wrong statistics: {', '.join(wrong)}" if wrong else ""


class Occlusion(Checker):
    """3.3: ``occlusion_map(model, x, target, window, stride, baseline)``: a ``(h, w)`` map; each window of
    ``window x window`` pixels (every ``stride`` pixels, the last one cut at the border) set to ``baseline``,
    every pixel of it gets f(x) - f(occluded), averaged over the windows that cover it (f: the target's logit)."""

    BORDER, OVERLAP, PLAIN = "a window cut by the border", "overlapping windows", "windows side by side"
    RULES = {OVERLAP: "with overlapping windows (stride < window), each pixel should get the mean over the windows "
                        "that cover it",
             BORDER: "the last window of a row or column, cut by the image's border, should be slid in as well "
                       "(and its pixels get its value)",
             PLAIN: "the map is not occlusion's: for each window, the target's logit on the image minus on the "
                      "occluded copy, given to every pixel of the window"}

    def _reference(self, x, target, window, stride, baseline):
        from labkit import attribution

        return attribution.occlusion(tiny(), x[None], int(target), window=window, strides=stride, baseline=baseline,
                                     progress=False)[0, ..., 0]

    def public_cases(self) -> list[Case]:
        x = images(6, 1)[0]
        return [Case("occlusion_map", (TANH10, x, 3, window, stride, 0.0), {}, about)
                for window, stride, about in ((8, 8, self.PLAIN), (8, 4, self.OVERLAP))]

    def cases(self, seed: int) -> list[Case]:
        rng = np.random.default_rng(seed)
        out = []
        for about in (self.BORDER, self.OVERLAP, self.PLAIN):
            while True:  # windows of the kind the case is about, on a 32x32 image
                window = int(rng.integers(5, 13))
                stride = window if about == self.PLAIN else int(rng.integers(3, window))
                if ((32 - window) % stride != 0) == (about == self.BORDER):
                    break
            args = (TANH10, images(int(rng.integers(1 << 30)), 1)[0], int(rng.integers(0, 10)), window, stride,
                    float(rng.uniform(0, 255)))
            out.append(Case("occlusion_map", args, {}, about))
        return out

    def grade(self, case: Case, out, public: bool = False) -> str:
        _, x, target, window, stride, baseline = case.args
        got = out["map"]
        problem = shape_problem(got, x.shape[:2], "the occlusion map of the image", public)
        if problem:
            return problem if public else "the map should have one value per pixel of the image"
        ok = close(got, self._reference(x, target, window, stride, baseline), 1e-4, 1e-6)
        return "" if ok else self.RULES.get(case.about, self.RULES[self.PLAIN])

"""Lab 3, fooling with noise (seed 002): notebooks/03_noise_fooling.ipynb."""

from labkit.labs._spec import Lab
from labkit.labs.golden import EXACT, Result, close

# Tolerances, sized from the spread measured across numeric paths (scripts/check_portable.sh). Everything
# here is a forward pass or a sum of gradients: nothing iterates to convergence.
PROB = close(abs=2e-3, why="a forward pass")
ATTRIBUTION = close(abs=0.02, rel=0.02, why="sums of gradients over a path")

LAB = Lab(3, "03_noise_fooling", "Fooling with noise: statistics, IG, noise tunnel, occlusion", results=(
    Result("pixel_stats", "per noise kind: pixel mean, std, share of 0 or 255, distance from uniform",
           close(rel=1e-9, why="NumPy on seeded integers")),
    Result("confidence", "per noise kind and model: describe() of the top-1 confidence",
           {"*.count": EXACT, "*": PROB}),
    Result("photo_confidence", "per model: describe() of the top-1 confidence on the photo crops",
           {"*.count": EXACT, "*": PROB}),
    Result("label_counts", "per noise kind and model: the 20 most frequent labels and their counts"),
    Result("noise_kinds", "per model and noise kind: mean and max confidence, labels, the top label and its share",
           {"*.mean_confidence": PROB, "*.max_confidence": PROB, "*.top_share": close(abs=1e-9)}),
    Result("auroc", "per noise kind and model: AUROC of max softmax, photo crops against noise", PROB),
    Result("fpr95", "per noise kind and model: share of noise passing the threshold that keeps 95% of the photos",
           close(abs=1e-9, why="a share of counted images")),
    Result("attribution_targets", "per attributed image: the top-1 class and its probability",
           {"*.probability": PROB}),
    Result("ig_completeness", "per image: IG's sum, f(x) - f(baseline), their difference and relative error",
           {"*.n_steps": EXACT, "*": ATTRIBUTION}),
    Result("attribution_concentration", "per image and method: share of |attribution| in the top 10% of pixels",
           ATTRIBUTION),
))

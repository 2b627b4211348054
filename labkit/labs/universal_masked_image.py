"""Lab 4, the universal masked image (seed 001): notebooks/04_universal_masked_image.ipynb."""

from labkit.labs._spec import Lab
from labkit.labs.golden import EXACT, WORDS, Result, close, ignore

# Tolerances, sized from the spread measured across numeric paths (scripts/check_portable.sh). The
# optimisation is chaotic: steps to 100% and the image found move with the numeric path.
STEPS = close(abs=4, rel=0.35, why="steps of a chaotic optimisation")
NORM = close(abs=0.01, rel=0.05, why="norms of the image found, after a chaotic number of steps")
PROB = close(abs=2e-3, why="a forward pass")

LAB = Lab(4, "04_universal_masked_image", "The universal masked image", results=(
    Result("model_parameters", "the model's parameter count"),
    Result("masks", "per mask kind at the largest K: partition, hidden share per copy, cells per row, largest K",
           close(abs=1e-9, why="geometry")),
    Result("universal", "per run (model, K, mask kind, optimiser): success share, steps to 100%, norms, its file",
           {"*.lr": EXACT, "*.success": EXACT, "*.steps": STEPS, "*.steps_taken": STEPS, "*.relative_norm_diff": NORM,
            "*.seconds": ignore("a timing")}),
    Result("universal_copies", "per mask kind at the largest K: each masked copy's target, predicted class and "
           "probability", {"*.*.probability": close(abs=0.5, why="the image found is chaotic; the hits are "
                                                                  "compared exactly")}),
    Result("relative_norms", "per run: four readings of how far the masked copies are from the image", NORM),
    Result("optimizer_comparison", "SGD against Adam: steps and success per K and mask kind",
           {"steps.*": STEPS, "steps_taken.*": STEPS}),
    Result("transfer", "per image and other model: share of its masked copies on target there",
           {"success_here.*": close(abs=0.2), "target_probability.*": close(abs=0.05)}),
    Result("conclusions", "the computed conclusions, as printed", WORDS),
))

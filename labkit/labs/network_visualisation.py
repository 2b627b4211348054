"""Lab 2, network visualisation (seed 004, CS231n): notebooks/02_network_visualisation.ipynb."""

from labkit.labs._spec import Lab
from labkit.labs.golden import EXACT, Result, close, ignore

# Tolerances, sized from the spread measured across numeric paths (scripts/check_portable.sh). The
# fooling and class-visualisation loops are chaotic: a different last bit in one step changes the path.
# Parameters echoed in a result (a threshold, lambda, eta) and success rates far from the cap: exact.
PROB = close(abs=2e-3, why="a forward pass")
ITERATIONS = close(abs=4, rel=0.35, why="steps of a chaotic loop")
LINF = close(rel=0.4, why="the last step's overshoot, after a chaotic number of steps")
L2 = close(rel=0.15, why="the path's length, after a chaotic number of steps")
PEAK = close(abs=0.05, why="the peak probability of a class visualisation, saturated")

LAB = Lab(2, "02_network_visualisation", "Network visualisation: saliency, fooling images, class visualisation",
          results=(
    Result("model_name", "the attacked model"),
    Result("saliency_models", "models whose saliency maps are compared"),
    Result("saliency_skipped", "saliency models skipped (weights missing)"),
    Result("saliency_predictions", "per model, the top-1 class of each photo"),
    Result("saliency_correlation", "per model pair and photo, the Pearson correlation of the saliency maps",
           close(abs=0.01)),
    Result("fooling_demo", "the seed's fooling demo: photo, source and target class, steps, change",
           {"iterations": ITERATIONS, "linf": LINF, "l2": L2, "target_probability": close(abs=0.5)}),
    Result("fooling", "every fooled image: photo, classes, steps, success, L-inf and L2 change, its .npy file",
           {"*.iterations": ITERATIONS, "*.linf": LINF, "*.l2": L2}),
    Result("fooling_table", "per attack: pairs, success rate, median steps, L-inf and L2 over the successes",
           {"success_rate.*": EXACT, "median_iterations.*": ITERATIONS, "median_linf_/255.*": LINF,
            "median_l2.*": L2}),
    Result("fooling_bar", "per learning rate: the median L-inf, its bootstrap interval and whether it is under "
           "8/255 (yes / no / undecided at this sample size)",
           {"*.median_linf": LINF, "*.interval.*": LINF, "*.meets": ignore("derived from the interval")}),
    Result("class_visualisation", "per class from noise: peak probability along the way, first step over the "
           "threshold, final probability and class",
           {"*.max_prob_along_the_way": PEAK, "*.first_step_over_threshold": ITERATIONS,
            "*.final_prob": ignore("chaotic: the final un-jittered image can lose the class (measured 0.999 -> "
                                   "0.017 between numeric paths); the peak is compared"),
            "*.final_class": ignore("as final_prob")}),
    Result("class_visualisation_reached", "how many classes peaked over the threshold, of how many",
           {"final": ignore("as class_visualisation's final_prob"), "threshold": EXACT}),
    Result("class_visualisation_sweep", "per [lambda, eta] setting: how far the image could move, the peak and "
           "final probability, the first step over the threshold",
           {"*.lambda": EXACT, "*.eta": EXACT, "*.max_move": EXACT, "*.max_prob_along_the_way": PEAK,
            "*.first_step_over_threshold": ITERATIONS, "*.final_prob": ignore("as class_visualisation's"),
            "*.final_class": ignore("as final_prob")}),
    Result("init_visualisation", "class visualisation from a photo: start and final probability",
           {"start_prob": PROB, "final_prob": close(abs=0.1)}),
))

"""Attacks and optimisation over pixels; every loop's step is compiled.

Where each idea lives:

- ``units``: CS231n's normalised units, the Gaussian blur;
- ``steps``: the compiled steps (``fool``, ``pgd``, ``visualise``), built once per model;
- ``fooling``: fooling images (CS231n), targeted FGSM and PGD, random targets, saved images (lab 2);
- ``visualisation``: CS231n's class visualisation (lab 2);
- ``universal``: seed 001's universal masked image (lab 4);
- ``universal_check``: its K targets, its re-check from the saved pixels, its relative norms.
"""

from labkit.attacks.fooling import AttackResult, attack_result, fgsm, fooling_images, pgd, random_targets, save_fooled
from labkit.attacks.steps import STEPS, compiled_step
from labkit.attacks.units import CS231N_MEAN, CS231N_STD, blur, from_cs231n, gaussian_kernel, to_cs231n
from labkit.attacks.universal import (
    UNIVERSAL_LR,
    UniversalResult,
    check_universal_params,
    save_universal,
    universal_image,
    universal_step,
)
from labkit.attacks.universal_check import (
    load_universal,
    masked_loss,
    reclassify_universal,
    relative_norms,
    universal_targets,
)
from labkit.attacks.visualisation import ClassVisualisation, check_visualisation, class_visualisation

__all__ = ["CS231N_MEAN", "CS231N_STD", "STEPS", "UNIVERSAL_LR", "AttackResult", "ClassVisualisation",
           "UniversalResult", "attack_result", "blur", "check_universal_params", "check_visualisation",
           "class_visualisation", "compiled_step", "fgsm", "fooling_images", "from_cs231n", "gaussian_kernel",
           "load_universal", "masked_loss", "pgd",
           "random_targets", "reclassify_universal", "relative_norms", "save_fooled", "save_universal",
           "to_cs231n", "universal_image", "universal_step", "universal_targets"]

"""Attacks and optimisation over pixels, in one module; every loop's step is compiled.

Part A: fooling images, FGSM, PGD, class visualisation (lab 2).
Part B: the universal masked image (lab 4).
"""

from __future__ import annotations

# === Part A: fooling, FGSM, PGD, class visualisation (lab 2) =================


# === Part B: the universal masked image (lab 4) ==============================

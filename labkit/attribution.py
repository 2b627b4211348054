"""Attribution methods, in one module.

Part A: tf-keras-vis methods (saliency, SmoothGrad, guided/rectified, Grad-CAM family,
Score-CAM, Layer-CAM) and their faithfulness metrics (lab 1).
Part B: Captum-style methods written for Keras (integrated gradients, noise tunnel,
occlusion): no maintained Keras 3 library has them (lab 3).
"""

from __future__ import annotations

# === Part A: tf-keras-vis methods and faithfulness (lab 1) ===================


# === Part B: Captum-style methods for Keras (lab 3) ==========================

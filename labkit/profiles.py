"""Size profiles, in one place: ``quick`` (CI, whole suite <= 5 min on 2 cores),
``standard`` (a student's CPU, <= 15 min), ``full`` (the seeds' own scale, for a GPU).

Each lab notebook has one ``profile`` parameter (``labkit run --profile NAME`` sets it in every
lab) and reads its sizes with ``settings(lab, profile)``; explicit notebook parameters override them.
``LABKIT_MAX_STEPS`` caps every iterative loop (like ``TF_KERAS_VIS_MAX_STEPS``).
"""

from __future__ import annotations

import os

from labkit.errors import LabkitError

PROFILE_NAMES = ("quick", "standard", "full")
DEFAULT_PROFILE = "standard"  # every notebook's `profile` default, and `labkit run`'s

# lab -> profile -> settings. Each lab owns its own entry.
PROFILES: dict[str, dict[str, dict]] = {
    "01_attention_maps": {  # scorecam_max_n 0: every channel (plain Score-CAM)
        "quick": {"n_images": 2, "smooth_samples": 4, "scorecam_max_n": 8, "deletion_steps": 5,
                  "mosaic_targets": ["chelsea", "coffee"], "randomise_layers": [4]},
        "standard": {"n_images": 4, "smooth_samples": 20, "scorecam_max_n": 32, "deletion_steps": 16,
                     "mosaic_targets": ["chelsea", "coffee", "camera", "stereo_motorcycle"],
                     "randomise_layers": [1, 4, 12]},
        "full": {"n_images": 4, "smooth_samples": 20, "scorecam_max_n": 0, "deletion_steps": 50,
                 "mosaic_targets": ["chelsea", "coffee", "camera", "stereo_motorcycle"],
                 "randomise_layers": [1, 2, 4, 8, 16]},
    },
    "02_network_visualisation": {  # counts of bundled photos; iterations; full = the seed's 5000 / 2500 / 5000 steps
        "quick": {"saliency_images": 3, "table_images": 3, "table_targets": 2, "pgd_iterations": 10,
                  "vis_iterations": 80, "vis_show_every": 20, "init_iterations": 10,
                  "sweep_iterations": 60},  # every class peaks over 0.9 well before the cap, on every CPU
        "standard": {"saliency_images": 7, "table_images": 7, "table_targets": 3, "pgd_iterations": 20,
                     "vis_iterations": 100, "vis_show_every": 25, "init_iterations": 100,
                     "sweep_iterations": 100},
        "full": {"saliency_images": 7, "table_images": 7, "table_targets": 10, "pgd_iterations": 40,
                 "vis_iterations": 5000, "vis_show_every": 1000, "init_iterations": 2500,
                 "sweep_iterations": 5000},
    },
    "03_noise_fooling": {  # full = the seed's scale: 1000 images; IG 200 steps; NoiseTunnel 10 x 50; 15x15/8
        "quick": {"models": ["vgg16", "efficientnet_lite0"], "n_noise": 16, "n_real": 8, "ig_steps": 64,
                  "ig_batch": 64, "nt_samples": 2, "nt_steps": 8, "occlusion_window": 32, "occlusion_stride": 32},
        "standard": {"models": ["vgg16", "resnet50", "densenet121", "inception_v3", "efficientnet_lite0",
                                "efficientnet_lite1", "efficientnet_lite2"],
                     "n_noise": 64, "n_real": 32, "ig_steps": 200, "ig_batch": 50, "nt_samples": 4, "nt_steps": 16,
                     "occlusion_window": 16, "occlusion_stride": 16},
        "full": {"models": ["vgg16", "resnet50", "densenet121", "inception_v3", "efficientnet_lite0",
                            "efficientnet_lite1", "efficientnet_lite2"],
                 "n_noise": 1000, "n_real": 256, "ig_steps": 200, "ig_batch": 50, "nt_samples": 10, "nt_steps": 50,
                 "occlusion_window": 15, "occlusion_stride": 8},
    },
    "04_universal_masked_image": {  # the seed: K = 2..62 step 8, SGD lr 0.1, up to 5000 steps, six models
        "quick": {"k_values": [2, 10], "mask_kinds": ["squares", "stripes"], "optimizer": "adam", "step_cap": 80,
                  "compare_k": [], "compare_kinds": [], "compare_models": [], "transfer_models": []},
        "standard": {"k_values": [2, 10, 18], "mask_kinds": ["squares", "stripes"], "optimizer": "adam",
                     "step_cap": 200, "compare_k": [2], "compare_kinds": ["stripes"], "compare_models": [],
                     "transfer_models": ["efficientnet_lite1", "efficientnet_lite2"]},
        "full": {"k_values": [2, 10, 18, 26, 34, 42, 50, 58, 62], "mask_kinds": ["squares", "stripes"],
                 "optimizer": "sgd", "step_cap": 5000, "compare_k": [2, 10, 18],
                 "compare_kinds": ["squares", "stripes"],
                 "compare_models": ["resnet50", "efficientnet_b4", "inception_v3", "mobilenet_v3_small"],
                 "transfer_models": ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]},
    },
}


def check_profile(profile: str) -> str:
    """``profile`` if it is a known profile name, else one clear error."""
    if profile not in PROFILE_NAMES:
        raise LabkitError(f"unknown profile {profile!r}; one of {', '.join(PROFILE_NAMES)}")
    return profile


def settings(lab: str, profile: str) -> dict:
    """The sizes for ``lab`` under ``profile`` (a copy: change it freely)."""
    check_profile(profile)
    if lab not in PROFILES:
        raise LabkitError(f"unknown lab {lab!r}; one of {', '.join(PROFILES)}")
    return dict(PROFILES[lab][profile])


def max_steps(steps: int) -> int:
    """``steps``, capped by the environment variable ``LABKIT_MAX_STEPS`` when it is set."""
    cap = os.environ.get("LABKIT_MAX_STEPS")
    if not cap:
        return steps
    try:
        return max(1, min(steps, int(cap)))
    except ValueError:
        raise LabkitError(f"LABKIT_MAX_STEPS must be an integer, got {cap!r}") from None

"""Size profiles, in one place: ``quick`` (CI, whole suite <= 5 min on 2 cores),
``standard`` (a student's CPU, <= 15 min), ``full`` (the seeds' own scale, for a GPU).

Each lab notebook has one ``profile`` parameter and reads its sizes with
``settings(lab, profile)``; explicit notebook parameters override them.
``LABKIT_MAX_STEPS`` caps every iterative loop (like ``TF_KERAS_VIS_MAX_STEPS``).
"""

from __future__ import annotations

import os

from labkit.errors import LabkitError

PROFILE_NAMES = ("quick", "standard", "full")

# lab -> profile -> settings. Each lab owns its own entry.
PROFILES: dict[str, dict[str, dict]] = {
    "01_attention_maps": {"quick": {}, "standard": {}, "full": {}},
    "02_network_visualisation": {"quick": {}, "standard": {}, "full": {}},
    "03_noise_fooling": {"quick": {}, "standard": {}, "full": {}},
    "04_universal_masked_image": {"quick": {}, "standard": {}, "full": {}},
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

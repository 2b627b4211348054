"""The four labs, each declared once in its own module: what it records and how its results compare.

``LABS`` maps each lab's name (its notebook's file name) to its ``Lab``; ``get`` finds one by name,
number (``1``, ``"01"``) or short name (``"attention_maps"``).
"""

from __future__ import annotations

import difflib

from labkit.errors import LabkitError
from labkit.labs import attention_maps, network_visualisation, noise_fooling, universal_masked_image
from labkit.labs._spec import Lab

LABS: dict[str, Lab] = {m.LAB.name: m.LAB for m in (attention_maps, network_visualisation, noise_fooling,
                                                    universal_masked_image)}


def get(name: str | int) -> Lab:
    """The lab called ``name``: ``01_attention_maps``, ``attention_maps``, ``01``, ``1`` or ``1`` as an int."""
    key = str(name).strip()
    for lab in LABS.values():
        if key in (lab.name, lab.name.split("_", 1)[1]) or (key.isdigit() and int(key) == lab.number):
            return lab
    close = difflib.get_close_matches(key, list(LABS), n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise LabkitError(f"unknown lab {name!r}{hint}; labs: {', '.join(LABS)}")


__all__ = ["LABS", "Lab", "get"]

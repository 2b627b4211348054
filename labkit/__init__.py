"""labkit: lab notebooks on how image classifiers see, and how easily they are fooled."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TF's C++ log lines out of notebook outputs

from labkit.errors import LabkitError, check_int, check_number  # noqa: E402

__version__ = "0.1.0"
__all__ = ["LabkitError", "__version__", "check_int", "check_number"]

"""labkit: lab notebooks on how image classifiers see, and how easily they are fooled."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ log lines: fatal ones only

from labkit.quiet import filter_native_logs  # noqa: E402

filter_native_logs()  # and the lines TensorFlow prints before it reads that variable (labkit.quiet)

from labkit.errors import LabkitError, check_int, check_number  # noqa: E402

__version__ = "0.1.0"
__all__ = ["LabkitError", "__version__", "check_int", "check_number"]

"""nbval settings for golden notebooks: stderr is not compared (TensorFlow log lines, tqdm progress bars),
nor the raw values of ``labkit.results.record`` displays (full-precision floats; the checked cells print
them rounded). Everything else in a ``# NBVAL_CHECK_OUTPUT`` cell is compared: stdout, text/plain, text/html.

nbval 0.11 compares stream outputs under their stream name and has no option to skip one, but each
notebook collector has a ``skip_compare`` tuple of output keys: the names are added there.
"""

from labkit.results import MIME

NOT_COMPARED = ("stderr", MIME)


def pytest_collection_modifyitems(items):
    for item in items:
        notebook = getattr(item, "parent", None)
        skip = getattr(notebook, "skip_compare", None)
        if type(notebook).__name__ == "IPyNbFile" and skip is not None and "stderr" not in skip:
            notebook.skip_compare = (*skip, *NOT_COMPARED)

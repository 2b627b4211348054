"""``python -m labkit.labs sync``: write the notebooks' parameters cells from the labs' declarations."""

import sys

from labkit.labs import sync_notebooks

if __name__ == "__main__":
    if sys.argv[1:] != ["sync"]:
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)
    for path in sync_notebooks():
        print(f"updated {path}")

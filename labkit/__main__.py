"""``python -m labkit``: the command line."""

from labkit.cli import main

raise SystemExit(main())

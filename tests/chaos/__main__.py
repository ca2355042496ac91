"""`python -m tests.chaos [--items N] [--workers N] [--kills N] [--seed N] [--json]`."""

from __future__ import annotations

import sys

from tests.chaos.run import main

if __name__ == "__main__":
    sys.exit(main())

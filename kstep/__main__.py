"""Provides `python -m kstep`, the same entry point as the `kstep` console script."""

import sys

from kstep.cli import main

sys.exit(main())

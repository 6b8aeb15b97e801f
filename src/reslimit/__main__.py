"""``python -m reslimit ...``: the same as the ``reslimit`` command."""

import sys

from .cli import run

sys.exit(run())

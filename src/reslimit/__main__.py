"""``python -m reslimit ...``: the same as the ``reslimit`` command."""

import sys

from .cli import main

sys.exit(main())

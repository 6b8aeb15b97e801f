"""``python -m reslimit.claims NAME [--quick|--full] [--out DIR]``: check one claim (see reslimit.claims.main)."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())

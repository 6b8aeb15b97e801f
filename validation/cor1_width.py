"""Corollary 1 (ii)'s condition d >= 9: the explosion below beta = 1/2 for widths d from 2 to 64.

The claim, its check and its sizes are in the package: src/reslimit/claims/cor1_width.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/cor1_width.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="cor1_width"))

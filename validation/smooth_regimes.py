"""Smooth weights: the critical beta is 1 (identity above, explosion below).

The claim, its check and its sizes are in the package: src/reslimit/claims/smooth_regimes.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/smooth_regimes.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="smooth_regimes"))

"""Dropout in the residual branch: the exact second moment (1 + c alpha^2 / q)^L - 1 and training on the digits.

The claim, its check and its sizes are in the package: src/reslimit/claims/dropout.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/dropout.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="dropout"))

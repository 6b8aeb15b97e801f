"""Variance propagation: He and Glorot with ReLU, the sigmoid's gradient bound, a scaled ResNet at beta = 1/2.

The claim, its check and its sizes are in the package: src/reslimit/claims/propagation.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/propagation.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="propagation"))

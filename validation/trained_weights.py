"""Weights after training (Marion et al. 2022, Figure 8): a smooth initialization stays smooth, an i.i.d. one rough.

The claim, its check and its sizes are in the package: src/reslimit/claims/trained_weights.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/trained_weights.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="trained_weights"))

"""I.i.d. weights: the critical beta is 1/2 (identity above, explosion below), for the hidden states and gradients.

The claim, its check and its sizes are in the package: src/reslimit/claims/iid_regimes.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/iid_regimes.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="iid_regimes"))

"""I.i.d. weights: the gradients' critical beta is 1/2, judged against the theory's value.

The claim, its check and its sizes are in the package: src/reslimit/claims/grad_regimes.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/grad_regimes.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="grad_regimes"))

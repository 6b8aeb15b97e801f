"""Gradient rates: the adjoint p_0 = dLoss/dh_0 of the network converges to that of its limit at the same rate.

The claim, its check and its sizes are in the package: src/reslimit/claims/adjoint_rate.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/adjoint_rate.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="adjoint_rate"))

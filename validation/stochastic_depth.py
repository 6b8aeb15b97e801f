"""Stochastic depth: expected depth, the exact second moment with survival, and the p(t)-scaled ODE and SDE limits.

The claim, its check and its sizes are in the package: src/reslimit/claims/stochastic_depth.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/stochastic_depth.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="stochastic_depth"))

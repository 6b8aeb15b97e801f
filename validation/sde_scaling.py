"""The SDE scaling as written: weights N(0, 2/d), diffusion sqrt(2/d); strong rate -1/2.

The claim, its check and its sizes are in the package: src/reslimit/claims/sde_scaling.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/sde_scaling.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="sde_scaling"))

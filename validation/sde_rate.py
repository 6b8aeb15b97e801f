"""SDE limit: a ResNet on Brownian (i.i.d. Gaussian) weights with beta = 1/2 converges to the neural SDE at 1/sqrt(L).

The claim, its check and its sizes are in the package: src/reslimit/claims/sde_rate.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/sde_rate.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="sde_rate"))

"""fBm limit: a ResNet on fractional Brownian increments (H = 0.8, beta = H) converges at rate L^(1 - 2H).

The claim, its check and its sizes are in the package: src/reslimit/claims/fbm_rate.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/fbm_rate.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="fbm_rate"))

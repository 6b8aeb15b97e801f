"""Prop. 3 / Corollary 1(iii): at beta = 1/2 the ratio ||h_L - h_0||^2 / ||h_0||^2 is non-degenerate in L.

The claim, its check and its sizes are in the package: src/reslimit/claims/prop3.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/prop3.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="prop3"))

"""Prop. 8: smooth weights V_k = X(k/L)/sqrt(d): identity for beta > 1, bounded at beta = 1, growth for beta < 1.

The claim, its check and its sizes are in the package: src/reslimit/claims/prop8.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/prop8.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="prop8"))

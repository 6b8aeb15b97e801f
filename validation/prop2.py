"""Prop. 2: when L alpha_L^2 <= 1, ||h_L - h_0||^2 / ||h_0||^2 is small with high probability (Markov).

The claim, its check and its sizes are in the package: src/reslimit/claims/prop2.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/prop2.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="prop2"))

"""Lemma 1: the two-sided bound on E||h_L - h_0||^2 / ||h_0||^2 for res-1 on i.i.d. weights.

The claim, its check and its sizes are in the package: src/reslimit/claims/lemma1.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/lemma1.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="lemma1"))

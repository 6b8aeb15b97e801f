"""Prop. 9: res-1 with the identity activation on smooth weights explodes for beta < 1.

The claim, its check and its sizes are in the package: src/reslimit/claims/prop9.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/prop9.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="prop9"))

"""Props. 5-6 and Corollary 2 (iii) as written, for nonlinear blocks: the gradients' bounds.

The claim, its check and its sizes are in the package: src/reslimit/claims/prop6_nonlinear.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/prop6_nonlinear.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="prop6_nonlinear"))

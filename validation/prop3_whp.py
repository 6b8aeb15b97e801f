"""Prop. 3 (i), (ii) and Corollary 1 (iii) as written: high-probability bounds, as exceedance frequencies.

The claim, its check and its sizes are in the package: src/reslimit/claims/prop3_whp.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/prop3_whp.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="prop3_whp"))

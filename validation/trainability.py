"""fBm weights: below the initialisation's critical line the network does not train; at or above it, it does.

The claim, its check and its sizes are in the package: src/reslimit/claims/trainability.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/trainability.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="trainability"))

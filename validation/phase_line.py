"""fBm weights: the critical beta of each Hurst index is H for res-1, max(H, 1/2) for res-3.

The claim, its check and its sizes are in the package: src/reslimit/claims/phase_line.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/phase_line.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="phase_line"))

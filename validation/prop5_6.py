"""Props. 5-6 and Corollary 2: the gradients p_k = dLoss/dh_k obey the forward pass's bounds.

The claim, its check and its sizes are in the package: src/reslimit/claims/prop5_6.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/prop5_6.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="prop5_6"))

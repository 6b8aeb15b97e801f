"""SGD: the largest learning rate that trains grows like L^(2 beta - 1): slope 0 at beta = 1/2, 1 at beta = 1.

The claim, its check and its sizes are in the package: src/reslimit/claims/learning_rate.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/learning_rate.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="learning_rate"))

"""The exact second-moment identity of a scaled ResNet on i.i.d. weights.

The claim, its check and its sizes are in the package: src/reslimit/claims/second_moment.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/second_moment.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="second_moment"))

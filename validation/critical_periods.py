"""Critical learning periods: a blurred-input deficit early in training, then clean data.

The claim, its check and its sizes are in the package: src/reslimit/claims/critical_periods.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/critical_periods.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="critical_periods"))

"""A trained deep ResNet is close to a neural ODE: error ~ 1/L from the ODE on its own interpolated weights.

The claim, its check and its sizes are in the package: src/reslimit/claims/trained_ode.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/trained_ode.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="trained_ode"))

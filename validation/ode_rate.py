"""ODE limit: a ResNet on smooth (Lipschitz) weights with beta = 1 converges to the neural ODE at rate 1/L.

The claim, its check and its sizes are in the package: src/reslimit/claims/ode_rate.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/ode_rate.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="ode_rate"))

"""Smooth weights: the critical beta is 1 (identity above, explosion below).

Claim (Marion et al. 2022, Prop. 8 and Figures 4-5): with weights V_k = V(k/L) read from a smooth Gaussian
process path, the median of ||h_L - h_0|| / ||h_0|| stops depending on L at beta = 1. Measured as the
beta where the slope of log median ratio in log L changes sign between the depths: within 0.05.
"""

import sys

from common import finish, parse, regime_claims


def main(argv=None) -> int:
    args = parse(__doc__, "smooth_regimes", argv)
    claims = regime_claims(args, "smooth", "1", "Prop. 8, Figures 4-5", [0.7 + 0.05 * i for i in range(13)],
                           (("res1", "tanh"), ("res3", "relu")))
    return finish(args, claims)


if __name__ == "__main__":
    sys.exit(main())

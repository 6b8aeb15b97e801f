"""Prop. 8: smooth weights V_k = X(k/L)/sqrt(d): identity for beta > 1, bounded at beta = 1, growth for beta < 1.

Claim (Marion et al. 2022, Prop. 8; derived in reslimit.studies.bounds): for res-1 with |sigma(x)| <= b|x|
(tanh) the pathwise Gronwall bound ||h_L - h_0|| / ||h_0|| <= prod_k (1 + alpha_L b ||V_k||_op) - 1 holds for
every sample; and the slope s of log median ||h_L - h_0|| / ||h_0|| against log L is <= (1 - beta)/2 for
beta = 3/2 (identity; theory 1 - beta), |s| <= 0.1 at beta = 1 (bounded; theory 0), >= (1 - beta)/2 with a
median increasing in L at beta = 1/2 (explosion).
"""

import sys

from common import bound_claims, finish, parse

from reslimit.studies.bounds import prop8


def main(argv=None) -> int:
    args = parse(__doc__, "prop8", argv)
    size = {"width": 8, "samples": 200, "depths": (16, 64, 256, 1024)} if args.quick else \
        {"width": 16, "samples": 500, "depths": (16, 64, 256, 1024, 4096)}
    rows = []
    for i, beta in enumerate((1.5, 1.25, 1.0, 0.75, 0.5)):
        rows += prop8(beta=beta, activation="tanh", seed=800 + i, **size)
    return finish(args, bound_claims(rows, args.out, "prop8"))


if __name__ == "__main__":
    sys.exit(main())

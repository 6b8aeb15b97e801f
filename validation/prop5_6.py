"""Props. 5-6 and Corollary 2: the gradients p_k = dLoss/dh_k obey the forward pass's bounds.

Claim (Marion et al. 2022, Props. 5-6, Cor. 2; derived in reslimit.studies.bounds for res-1 with the identity
activation and a loss gradient p_L independent of the weights, where the backward recursion
p_k = (I + alpha V_{k+1}^T) p_{k+1} has the forward law): E||p_0 - p_L||^2 / ||p_L||^2 = (1 + alpha_L^2)^L - 1
(within 4 SE), and for L alpha_L^2 <= 1, P(ratio > (e - 1) L alpha_L^2 / delta) <= delta. The nonlinear
case (leaky ReLU, tanh) is not checked: the backward weights then depend on p_{k+1}.
"""

import sys

from common import bound_claims, finish, parse

from reslimit.studies.bounds import corollary2, prop5_6


def main(argv=None) -> int:
    args = parse(__doc__, "prop5_6", argv)
    size = {"width": 8, "samples": 4000} if args.quick else {"width": 16, "samples": 20000}
    L = 64 if args.quick else 256
    rows = []
    for i, beta in enumerate((0.5, 0.75, 1.0)):
        rows += prop5_6(depth=L, beta=beta, seed=400 + i, **size)
    for i, beta in enumerate((0.5, 0.75)):
        rows += corollary2(depth=L, beta=beta, delta=0.1, seed=410 + i, **size)
    return finish(args, bound_claims(rows, args.out, "prop5_6"))


if __name__ == "__main__":
    sys.exit(main())

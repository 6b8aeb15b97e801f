"""Lemma 1: the two-sided bound on E||h_L - h_0||^2 / ||h_0||^2 for res-1 on i.i.d. weights.

Claim (Marion et al. 2022, Lemma 1, derived in reslimit.studies.bounds): for res-1 with entries of sqrt(d) V_k
i.i.d., mean 0, variance 1, and a|x| <= |sigma(x)| <= b|x|,
(1 + a^2 alpha_L^2)^L - 1 <= E||h_L - h_0||^2 / ||h_0||^2 <= (1 + b^2 alpha_L^2)^L - 1;
the Monte-Carlo mean must lie in the band within 4 standard errors. Leaky ReLU 0.5 (a = 1/2, b = 1) at
beta = 1/2 and 0.3 (Gaussian and Rademacher weights), and the identity (a = b = 1, an equality).
"""

import sys

from common import bound_claims, finish, parse

from reslimit.studies.bounds import lemma1


def main(argv=None) -> int:
    args = parse(__doc__, "lemma1", argv)
    size = {"width": 8, "samples": 4000} if args.quick else {"width": 16, "samples": 20000}
    L = 64 if args.quick else 256
    rows = []
    for i, (beta, act, dist) in enumerate([(0.5, "leaky_relu:0.5", "gaussian"), (0.3, "leaky_relu:0.5", "rademacher"),
                                           (0.5, "identity", "gaussian"), (0.5, "leaky_relu:0.8", "rademacher")]):
        rows += lemma1(depth=L, beta=beta, activation=act, dist=dist, seed=100 + i, **size)
    return finish(args, bound_claims(rows, args.out, "lemma1"))


if __name__ == "__main__":
    sys.exit(main())

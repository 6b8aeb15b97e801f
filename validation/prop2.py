"""Prop. 2: when L alpha_L^2 <= 1, ||h_L - h_0||^2 / ||h_0||^2 is small with high probability (Markov).

Claim (Marion et al. 2022, Prop. 2, constant derived in reslimit.studies.bounds from Lemma 1 and Markov's
inequality): for res-1 with |sigma(x)| <= b|x| on i.i.d. weights and L alpha_L^2 <= 1,
P(||h_L - h_0||^2 / ||h_0||^2 > (e^{b^2} - 1) L alpha_L^2 / delta) <= delta. The observed frequency must be
<= delta + 4 sqrt(delta (1 - delta) / n), at beta = 1/2 and 3/4, delta = 0.1 and 0.5.
"""

import sys

from common import bound_claims, finish, parse

from reslimit.studies.bounds import prop2


def main(argv=None) -> int:
    args = parse(__doc__, "prop2", argv)
    size = {"width": 8, "samples": 4000} if args.quick else {"width": 16, "samples": 20000}
    L = 64 if args.quick else 256
    rows = []
    for i, (beta, delta) in enumerate([(0.5, 0.1), (0.5, 0.5), (0.75, 0.1), (0.75, 0.5)]):
        rows += prop2(depth=L, beta=beta, delta=delta, activation="leaky_relu:0.5", seed=200 + i, **size)
    return finish(args, bound_claims(rows, args.out, "prop2"))


if __name__ == "__main__":
    sys.exit(main())

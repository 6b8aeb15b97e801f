"""Prop. 9: res-1 with the identity activation on smooth weights explodes for beta < 1.

Claim (Marion et al. 2022, Prop. 9): h_L = prod_k (I + L^-beta V_k) h_0 ~ exp(L^{1-beta} int V) h_0, so the
median of log(||h_L|| / ||h_0||) is positive, increases with L, and the slope of its logarithm against log L
is >= (1 - beta)/2 (theory between 1 - beta and 2(1 - beta) pre-asymptotically), at beta = 1/2 and 3/4.
Control: at beta = 1 the same rule must report no explosion (that row is expected to be False and is
recorded as passed when it is).
"""

import sys

from common import bound_claims, finish, parse

from reslimit.studies.bounds import prop9


def main(argv=None) -> int:
    args = parse(__doc__, "prop9", argv)
    size = {"width": 8, "samples": 200, "depths": (16, 64, 256, 1024)} if args.quick else \
        {"width": 16, "samples": 500, "depths": (16, 64, 256, 1024, 4096)}
    rows = []
    for i, beta in enumerate((0.5, 0.75)):
        rows += prop9(beta=beta, seed=900 + i, **size)
    claims = bound_claims(rows, args.out, "prop9")
    control = prop9(beta=1.0, seed=910, **size)[0]
    claims.append({"claim": "control: beta = 1 (neural ODE regime) is not judged explosive by the same rule",
                   "source": "Prop. 8 (ii) vs Prop. 9", "theory": "does not explode",
                   "measured": control["measured"], "tolerance": control["rule"],
                   "passed": not control["passed"], "figure": claims[0]["figure"]})
    print(f"control beta = 1: slope {control['measured']:.4g}: {control['verdict']}")
    return finish(args, claims)


if __name__ == "__main__":
    sys.exit(main())

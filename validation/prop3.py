"""Prop. 3 / Corollary 1(iii): at beta = 1/2 the ratio ||h_L - h_0||^2 / ||h_0||^2 is non-degenerate in L.

Claim (Marion et al. 2022, Prop. 3 / Cor. 1(iii), checked in expectation; derived in reslimit.studies.bounds from
Lemma 1 and (1 + x/L)^L in [1 + x, e^x]): for res-1 with a|x| <= |sigma(x)| <= b|x| on i.i.d. weights and
alpha_L = 1/sqrt(L), a^2 <= (1 + a^2/L)^L - 1 <= E ratio <= e^{b^2} - 1 at every depth (within 4 SE); the
upper tail in probability is Prop. 2 at beta = 1/2. The paper's high-probability lower bound is not checked.
"""

import sys

from common import bound_claims, finish, parse

from reslimit.studies.bounds import prop2, prop3


def main(argv=None) -> int:
    args = parse(__doc__, "prop3", argv)
    size = {"width": 8, "samples": 4000} if args.quick else {"width": 16, "samples": 20000}
    depths = (16, 64, 256) if args.quick else (16, 64, 256, 1024)
    rows = prop3(depths=depths, activation="leaky_relu:0.5", seed=300, **size)
    rows += prop3(depths=depths, activation="identity", seed=310, **size)
    rows += prop2(depth=depths[-1], beta=0.5, delta=0.1, activation="leaky_relu:0.5", seed=320, **size)
    return finish(args, bound_claims(rows, args.out, "prop3"))


if __name__ == "__main__":
    sys.exit(main())

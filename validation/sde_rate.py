"""SDE limit: a ResNet on Brownian (i.i.d. Gaussian) weights with beta = 1/2 converges to the neural SDE at 1/sqrt(L).

Claim (Marion et al. 2022, Prop. 4; Euler-Maruyama's strong order 1/2, Kloeden & Platen 1992): the slope of
log mean max_k ||H_{k/L} - h_k|| in log L is -1/2, within 0.07, over depths 16..1024, res-1 (tanh), width 16.
"""

import sys

from common import finish, parse, rate_claim


def main(argv=None) -> int:
    args = parse(__doc__, "sde_rate", argv)
    depths = [16, 32, 64, 128, 256] if args.quick else [16, 32, 64, 128, 256, 512, 1024]
    size = dict(width=8, samples=32) if args.quick else dict(width=16, samples=64)
    claim = rate_claim("SDE rate -1/2, res1 (tanh)", "Prop. 4 (i.i.d. weights, beta = 1/2)", args.out,
                       limit="sde", block="res1", activation="tanh", depths=depths, seed=0, **size)
    return finish(args, [claim])


if __name__ == "__main__":
    sys.exit(main())

"""fBm limit: a ResNet on fractional Brownian increments (H = 0.8, beta = H) converges at rate L^(1 - 2H).

Claim (Neuenkirch & Nourdin 2007: Euler for a Young equation has order 2H - 1): the slope is 1 - 2H = -0.6,
within 0.1, over depths 16..2048 at width 1. At larger widths the leading error term has a 1/width coefficient
and the pre-asymptotic slope is steeper: measured at widths 4 and 16 and shown, not judged.
"""

import sys

from common import finish, parse, rate_claim


def main(argv=None) -> int:
    args = parse(__doc__, "fbm_rate", argv)
    depths = [16, 32, 64, 128, 256, 512] if args.quick else [16, 32, 64, 128, 256, 512, 1024, 2048]
    common = dict(limit="fbm", hurst=0.8, block="res1", activation="tanh", depths=depths, samples=64, seed=0)
    claim = rate_claim("fBm rate 1 - 2H (H = 0.8), width 1", "Neuenkirch & Nourdin (2007)", args.out / "width1",
                       width=1, **common)
    for width in (4, 16):
        shown = rate_claim(f"fBm, width {width} (pre-asymptotic)", "", args.out / f"width{width}", judged=False,
                           width=width, **common)
        print(f"  width {width}: slope {shown['measured']:.3f} (steeper than {shown['theory']:g}: the 1/width term)")
    return finish(args, [claim])


if __name__ == "__main__":
    sys.exit(main())

"""ODE limit: a ResNet on smooth (Lipschitz) weights with beta = 1 converges to the neural ODE at rate 1/L.

Claim (Marion et al. 2022, Prop. 7; Euler's order 1): the slope of log mean max_k ||H_{k/L} - h_k|| in log L
is -1, within 0.05, over depths 8..1024, for res-3 (ReLU) and res-2 (tanh); the adjoint's slope is shown too.
"""

import sys

from common import finish, parse, rate_claim


def main(argv=None) -> int:
    args = parse(__doc__, "ode_rate", argv)
    depths = [8, 16, 32, 64, 128] if args.quick else [8, 16, 32, 64, 128, 256, 512, 1024]
    size = dict(width=8, samples=16) if args.quick else dict(width=16, samples=64)
    claims = [
        rate_claim(f"ODE rate -1, {block} ({act})", "Prop. 7 (Lipschitz weights, beta = 1)", args.out / block,
                   limit="ode", block=block, activation=act, depths=depths, seed=0, **size)
        for block, act in (("res3", "relu"), ("res2", "tanh"))
    ]
    return finish(args, claims)


if __name__ == "__main__":
    sys.exit(main())

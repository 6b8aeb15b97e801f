"""Continuous limits: the torchsde adapter, closed-form solutions, and which paths have which limit."""

import math

import pytest
import torch

from reslimit import IID, Brownian, FractionalBrownian, FunctionPath, ScaledResNet, Smooth
from reslimit.ode import NeuralODE
from reslimit.sde import NeuralSDE, PathBrownian


def test_path_brownian_serves_the_paths_own_increments():
    path = Brownian(3, ensemble=2, seed=4)
    bm = PathBrownian(path, steps=1000, batch=5)
    assert bm.shape == (10, 9)
    inc = bm(torch.tensor(0.25), torch.tensor(0.75)).view(2, 5, 3, 3)
    assert torch.equal(inc[:, 0], inc[:, 4])  # inputs of one member share its weights
    assert torch.allclose(inc[:, 0], path.evaluate(0.25, 0.75), atol=1e-14)
    with pytest.raises(ValueError, match="increments"):
        bm(torch.tensor(0.5))


@pytest.mark.parametrize("block,activation", [("res1", "tanh"), ("res2", "tanh"), ("res3", "relu")])
def test_torchsde_euler_at_step_1_over_L_is_the_depth_L_network(block, activation):
    # The network with Brownian weights and beta = 1/2 *is* Euler-Maruyama on the grid k/L:
    # the same numbers to rounding, inner weights read at (k+1)/L by the network and at k/L by the
    # solver excepted -- so the check uses constant inner weights.
    L, d, E = 64, 5, 3
    outer = Brownian(d, E, seed=1)
    W = torch.randn(E, d, d, generator=torch.Generator().manual_seed(0))
    inner = FunctionPath(lambda t: W, d, E) if block != "res1" else None
    h0 = torch.randn(E, 2, d, generator=torch.Generator().manual_seed(1))
    net = ScaledResNet(L, d, beta=0.5, block=block, activation=activation, outer=outer, inner=inner)
    with torch.no_grad():
        H = NeuralSDE(block, activation, outer=outer, inner=inner).solve(h0, steps=L)
        assert (H - net.trajectory(h0)).abs().max() < 1e-12


def test_ito_linear_sde_closed_form():
    # width 1, res1 identity: dH = H dB (Ito) has H_1 = h_0 exp(B_1 - 1/2). Euler-Maruyama's strong error
    # at step 2^-12 is about sqrt(2^-12) |H| ~ 0.016 |H| (Kloeden-Platen); the mean over 256 paths must be < 0.05.
    path = Brownian(1, ensemble=256, seed=3)
    h0 = torch.ones(256, 1, 1)
    with torch.no_grad():
        H1 = NeuralSDE("res1", "identity", outer=path).solve(h0, steps=2**12, every=2**12)[-1]
    exact = torch.exp(path.evaluate(0.0, 1.0) - 0.5).view(256, 1, 1)
    rel = ((H1 - exact).abs() / exact).mean().item()
    assert rel < 0.05


def test_young_linear_equation_closed_form():
    # width 1, identity, fBm with H = 0.8: dH = H dX (Young) has H_1 = h_0 exp(X_1); Heun's error at 2^-12
    # is of order (2^-12)^(3H - 1) = 2^-16.8 ~ 1e-5 relative: 1e-3 leaves room for the constant.
    path = FractionalBrownian(1, ensemble=64, hurst=0.8, resolution=2**12, seed=2)
    h0 = torch.ones(64, 1, 1)
    with torch.no_grad():
        H1 = NeuralSDE("res1", "identity", outer=path).solve(h0, steps=2**12, every=2**12)[-1]
    exact = torch.exp(path.evaluate(0.0, 1.0)).view(64, 1, 1)
    assert ((H1 - exact).abs() / exact).max().item() < 1e-3


def test_linear_ode_closed_form():
    # V(t) = M constant, identity activation: H(t) = expm(t M / sqrt(d)) h_0; dopri5 at rtol 1e-10.
    d, E = 4, 2
    M = torch.randn(E, d, d, generator=torch.Generator().manual_seed(5))
    ode = NeuralODE("res1", "identity", outer=FunctionPath(lambda t: M, d, E))
    h0 = torch.randn(E, 3, d, generator=torch.Generator().manual_seed(6))
    ts = torch.tensor([0.0, 0.5, 1.0])
    H = ode.solve(h0, ts)
    exact = torch.stack([h0 @ torch.linalg.matrix_exp(t * M / math.sqrt(d)).mT for t in ts])
    assert (H - exact).abs().max() < 1e-8


def test_ode_gradient_by_fixed_step_backpropagation_is_self_consistent():
    # rk4 at step 1/512 and 1/1024 give the same adjoint P_0 to 1e-9 (dopri5's step control would not: 1e-2).
    d, E = 8, 4
    outer, inner = Smooth(d, E, seed=0), Smooth(d, E, seed=1)
    h0 = torch.randn(E, 1, d, generator=torch.Generator().manual_seed(0))

    def adjoint(step):
        x = h0.clone().requires_grad_(True)
        ode = NeuralODE("res2", "tanh", outer=outer, inner=inner, method="rk4", options={"step_size": step})
        return torch.autograd.grad(ode.solve(x, torch.tensor([0.0, 1.0]))[-1].pow(2).sum() / 2, x)[0]

    assert (adjoint(1 / 512) - adjoint(1 / 1024)).abs().max() < 1e-9


def test_ode_network_error_halves_with_depth():
    # Euler on a smooth path: max_k ||H_{k/L} - h_k|| ~ c / L, so doubling L halves it (to within 10%).
    d, E = 4, 8
    outer = Smooth(d, E, lengthscale=0.3, seed=0)
    h0 = torch.randn(E, 1, d, generator=torch.Generator().manual_seed(0))
    H = NeuralODE("res1", "tanh", outer=outer).solve(h0, torch.arange(129) / 128)
    errs = []
    for L in (32, 64, 128):
        with torch.no_grad():
            h = ScaledResNet(L, d, beta=1.0, block="res1", activation="tanh", outer=outer).trajectory(h0)
        errs.append((H[:: 128 // L] - h).norm(dim=-1).max(0).values.mean().item())
    assert 1.8 < errs[0] / errs[1] < 2.2 and 1.8 < errs[1] / errs[2] < 2.2


@pytest.mark.parametrize(
    "make,msg",
    [
        (lambda: NeuralODE("res1", outer=Brownian(3)), "needs a Smooth or FunctionPath outer path; got Brow"),
        (lambda: NeuralSDE("res1", outer=Smooth(3)), "Brownian"),
        (lambda: NeuralSDE("res1", outer=IID(3)), "Brownian"),
        (lambda: NeuralSDE("res1", outer=FractionalBrownian(3, hurst=0.4, resolution=64)), "hurst must be > 1/2"),
        (lambda: NeuralSDE("res3", "relu", outer=Brownian(3), inner=IID(3)), "inner must be a smooth path"),
        (lambda: NeuralSDE("res2", outer=Brownian(3)), "inner must be a smooth path"),
        (lambda: NeuralSDE("res1", outer=Brownian(3)).solve(torch.zeros(1, 2, 4), steps=8), "h0"),
        (lambda: NeuralSDE("res1", outer=Brownian(3)).solve(torch.zeros(1, 2, 3, dtype=torch.float32), steps=8),
         "dtype"),
        (lambda: NeuralODE("res1", outer=Smooth(3)).solve(torch.zeros(1, 2, 3, dtype=torch.float32),
                                                          torch.tensor([0.0, 1.0])), "dtype"),
        (lambda: NeuralSDE("res1", outer=Brownian(3)).solve(torch.zeros(1, 2, 3), steps=8, every=3), "every"),
    ],
)
def test_paths_without_a_limit_are_refused(make, msg):
    with pytest.raises(ValueError, match=msg):
        make()


# One record per limit, one way to solve -------------------------------------------------------------------------

def test_limit_records_hold_rate_beta_tolerance_and_solver():
    from reslimit.limits import LIMITS, get_limit

    assert [LIMITS[k].rate() for k in ("ode", "sde")] == [-1.0, -0.5]
    assert LIMITS["fbm"].rate(0.8) == pytest.approx(1 - 1.6) and LIMITS["fbm"].beta(0.7) == 0.7
    assert (LIMITS["ode"].beta(), LIMITS["sde"].beta()) == (Smooth.natural_beta, Brownian.natural_beta) == (1.0, 0.5)
    assert (LIMITS["ode"].solver, LIMITS["sde"].solver, LIMITS["fbm"].solver) == (NeuralODE, NeuralSDE, NeuralSDE)
    for name, limit in LIMITS.items():  # the record's path drives that very limit, and its solver accepts it
        path = limit.make_path(3, 2, seed=0, dtype=torch.float64, hurst=0.75, resolution=64, lengthscale=0.3)
        assert path.limit == name and limit.solver("res1", "tanh", outer=path).outer is path
    with pytest.raises(ValueError, match="hurst must be"):
        LIMITS["fbm"].rate(0.4)
    with pytest.raises(ValueError, match="limit must be one of 'ode', 'sde', 'fbm'; got 'euler'"):
        get_limit("euler")


@pytest.mark.parametrize("which", ["network", "ode", "sde", "fbm"])
def test_network_and_limits_answer_one_solve_call(which):
    """solve(h0, ts) on the same times and states, (batch, d) or (E, batch, d), gives (len(ts), E, batch, d): the
    trajectory at those times; a time off the grid is refused, naming ts."""
    E, d, L = 2, 3, 8
    paths = {"network": lambda: IID(d, E, seed=1), "ode": lambda: Smooth(d, E, seed=1),
             "sde": lambda: Brownian(d, E, seed=1), "fbm": lambda: FractionalBrownian(d, E, hurst=0.75, resolution=L,
                                                                                     seed=1)}
    path = paths[which]()
    solver = {"network": lambda: ScaledResNet(L, d, beta=0.5, activation="tanh", outer=path),
              "ode": lambda: NeuralODE("res1", "tanh", outer=path, method="rk4", steps=L),
              "sde": lambda: NeuralSDE("res1", "tanh", outer=path, steps=L),
              "fbm": lambda: NeuralSDE("res1", "tanh", outer=path, steps=L)}[which]()
    h0 = torch.randn(4, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        every = solver.trajectory(h0, every=2)  # t = 0, 1/4, ..., 1
        some = solver.solve(h0, [0.25, 0.75, 1.0])
        again = solver.solve(h0.expand(E, 4, d), torch.tensor([0.0, 0.5], dtype=torch.float64))
    assert every.shape == (5, E, 4, d) and some.shape == (3, E, 4, d) and again.shape == (2, E, 4, d)
    assert torch.allclose(some, every[[1, 3, 4]], atol=1e-12, rtol=0)
    assert torch.allclose(again, every[[0, 2]], atol=1e-12, rtol=0)
    if which != "ode":  # the ODE takes any time; the network and the SDE solvers only their grid's
        with pytest.raises(ValueError, match=r"ts must lie on the grid k/8 .*ts\[1\] = 0\.3"):
            solver.solve(h0, [0.25, 0.3])


def test_ode_trajectory_needs_a_grid():
    ode = NeuralODE("res1", "tanh", outer=Smooth(3, seed=0))
    with pytest.raises(ValueError, match=r"steps must be given \(NeuralODE\(\.\.\., steps=N\)\)"):
        ode.trajectory(torch.zeros(1, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="every must divide steps=8; got 3"):
        NeuralODE("res1", "tanh", outer=Smooth(3, seed=0), method="rk4", steps=8).trajectory(torch.zeros(1, 3), 3)


def test_one_seed_builds_one_network_everywhere():
    """ScaledResNet(seed=s) and converge's paths derive the outer and inner seeds from the same sub-streams."""
    from reslimit._rng import substream
    from reslimit.limits import LIMITS
    from reslimit.studies import converge as study

    net = ScaledResNet(4, 3, block="res2", activation="tanh", seed=7)
    assert (net.outer.seed, net.inner.seed) == (substream(7, "outer"), substream(7, "inner"))
    params = {"seed": 7, "width": 3, "samples": 2, "dtype": "float64", "lengthscale": 0.2, "hurst": None}
    outer, inner = study._paths(LIMITS["sde"], params, True, 64)
    assert (outer.seed, inner.seed) == (net.outer.seed, net.inner.seed)
    assert len({substream(7, name) for name in ("outer", "inner", "inputs", "targets", "bootstrap")}) == 5

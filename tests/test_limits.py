"""Continuous limits: the torchsde adapter, closed-form solutions, which paths have which limit, and the one
convention of the network and its limits."""

import inspect
import math

import pytest
import torch
from torch import nn

from reslimit import BLOCKS, IID, Brownian, ContinuousLimit, FractionalBrownian, FunctionPath, ScaledResNet, Smooth
from reslimit.limits import LIMITS
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
    inner = FunctionPath(lambda t: W, d, E) if BLOCKS[block].inner else None
    h0 = torch.randn(E, 2, d, generator=torch.Generator().manual_seed(1))
    net = ScaledResNet(L, d, beta=0.5, block=block, activation=activation, outer=outer, inner=inner)
    with torch.no_grad():
        H = NeuralSDE(block=block, activation=activation, outer=outer, inner=inner).solve(h0, steps=L)
        assert (H - net.trajectory(h0)).abs().max() < 1e-12


def test_ito_linear_sde_closed_form():
    # width 1, res1 identity: dH = H dB (Ito) has H_1 = h_0 exp(B_1 - 1/2). Euler-Maruyama's strong error
    # at step 2^-12 is about sqrt(2^-12) |H| ~ 0.016 |H| (Kloeden-Platen); the mean over 256 paths must be < 0.05.
    path = Brownian(1, ensemble=256, seed=3)
    h0 = torch.ones(256, 1, 1)
    with torch.no_grad():
        H1 = NeuralSDE(block="res1", activation="identity", outer=path).solve(h0, steps=2**12, every=2**12)[-1]
    exact = torch.exp(path.evaluate(0.0, 1.0) - 0.5).view(256, 1, 1)
    rel = ((H1 - exact).abs() / exact).mean().item()
    assert rel < 0.05


def test_young_linear_equation_closed_form():
    # width 1, identity, fBm with H = 0.8: dH = H dX (Young) has H_1 = h_0 exp(X_1); Heun's error at 2^-12
    # is of order (2^-12)^(3H - 1) = 2^-16.8 ~ 1e-5 relative: 1e-3 leaves room for the constant.
    path = FractionalBrownian(1, ensemble=64, hurst=0.8, resolution=2**12, seed=2)
    h0 = torch.ones(64, 1, 1)
    with torch.no_grad():
        H1 = NeuralSDE(block="res1", activation="identity", outer=path).solve(h0, steps=2**12, every=2**12)[-1]
    exact = torch.exp(path.evaluate(0.0, 1.0)).view(64, 1, 1)
    assert ((H1 - exact).abs() / exact).max().item() < 1e-3


def test_linear_ode_closed_form():
    # V(t) = M constant, identity activation: H(t) = expm(t M / sqrt(d)) h_0; dopri5 at rtol 1e-10.
    d, E = 4, 2
    M = torch.randn(E, d, d, generator=torch.Generator().manual_seed(5))
    ode = NeuralODE(block="res1", activation="identity", outer=FunctionPath(lambda t: M, d, E))
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
        ode = NeuralODE(block="res2", outer=outer, inner=inner, method="rk4", options={"step_size": step})
        return torch.autograd.grad(ode.solve(x, torch.tensor([0.0, 1.0]))[-1].pow(2).sum() / 2, x)[0]

    assert (adjoint(1 / 512) - adjoint(1 / 1024)).abs().max() < 1e-9


def test_ode_network_error_halves_with_depth():
    # Euler on a smooth path: max_k ||H_{k/L} - h_k|| ~ c / L, so doubling L halves it (to within 10%).
    d, E = 4, 8
    outer = Smooth(d, E, lengthscale=0.3, seed=0)
    h0 = torch.randn(E, 1, d, generator=torch.Generator().manual_seed(0))
    H = NeuralODE(block="res1", activation="tanh", outer=outer).solve(h0, torch.arange(129) / 128)
    errs = []
    for L in (32, 64, 128):
        with torch.no_grad():
            h = ScaledResNet(L, d, beta=1.0, block="res1", activation="tanh", outer=outer).trajectory(h0)
        errs.append((H[:: 128 // L] - h).norm(dim=-1).max(0).values.mean().item())
    assert 1.8 < errs[0] / errs[1] < 2.2 and 1.8 < errs[1] / errs[2] < 2.2


@pytest.mark.parametrize(
    "make,msg",
    [
        (lambda: NeuralODE(block="res1", outer=Brownian(3)), "needs a Smooth or FunctionPath outer path; got Brow"),
        (lambda: NeuralSDE(block="res1", outer=Smooth(3)), "Brownian"),
        (lambda: NeuralSDE(block="res1", outer=IID(3)), "Brownian"),
        (lambda: NeuralSDE(block="res1", outer=FractionalBrownian(3, hurst=0.4, resolution=64)), "hurst must be > 1/2"),
        (lambda: NeuralSDE(block="res3", outer=Brownian(3), inner=IID(3)), "inner must be a smooth path"),
        (lambda: NeuralSDE(block="res2", outer=Brownian(3)), "inner must be a smooth path"),
        (lambda: NeuralSDE(block="res1", outer=Brownian(3)).solve(torch.zeros(1, 2, 4), steps=8), "h0"),
        (lambda: NeuralSDE(block="res1", outer=Brownian(3)).solve(torch.zeros(1, 2, 3, dtype=torch.float32), steps=8),
         "dtype"),
        (lambda: NeuralODE(block="res1", outer=Smooth(3)).solve(torch.zeros(1, 2, 3, dtype=torch.float32),
                                                          torch.tensor([0.0, 1.0])), "dtype"),
        (lambda: NeuralSDE(block="res1", outer=Brownian(3)).solve(torch.zeros(1, 2, 3), steps=8, every=3), "every"),
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
        assert path.limit == name and limit.solver(block="res1", activation="tanh", outer=path).outer is path
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
              "ode": lambda: NeuralODE(block="res1", activation="tanh", outer=path, method="rk4", steps=L),
              "sde": lambda: NeuralSDE(block="res1", activation="tanh", outer=path, steps=L),
              "fbm": lambda: NeuralSDE(block="res1", activation="tanh", outer=path, steps=L)}[which]()
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
    ode = NeuralODE(block="res1", activation="tanh", outer=Smooth(3, seed=0))
    with pytest.raises(ValueError, match=r"steps must be given \(NeuralODE\(\.\.\., steps=N\)\)"):
        ode.trajectory(torch.zeros(1, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="every must divide steps=8; got 3"):
        NeuralODE(block="res1", outer=Smooth(3, seed=0), method="rk4", steps=8).trajectory(torch.zeros(1, 3), 3)


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


# One convention for the network and its limits ------------------------------------------------------------------

def _limit(name, width=3, ensemble=2, block="res1", **kw):
    """The solver of the limit ``name`` on its own path (and a smooth inner path where the block reads W), with the
    limit's reference method and 16 steps."""
    limit = LIMITS[name]
    outer = limit.make_path(width, ensemble, seed=1, dtype=torch.float64, hurst=0.75, resolution=16)
    inner = Smooth(width, ensemble, seed=2) if BLOCKS[block].inner else None
    return limit.solver(block=block, outer=outer, inner=inner, method=limit.method, steps=16, **kw)


@pytest.mark.parametrize("name", list(LIMITS))
def test_every_limit_takes_the_networks_keywords_and_defaults(name):
    solver = LIMITS[name].solver
    assert issubclass(solver, ContinuousLimit) and issubclass(solver, nn.Module) and name in solver.limits
    params = inspect.signature(solver).parameters
    assert all(p.kind is p.KEYWORD_ONLY for p in params.values()), params
    network = inspect.signature(ScaledResNet).parameters
    shared = set(params) & set(network)
    assert {"block", "activation", "outer", "inner", "device"} <= shared
    assert {k: params[k].default for k in shared if k != "outer"} == {k: network[k].default for k in shared
                                                                      if k != "outer"}
    assert (params["block"].default, params["activation"].default) == ("res1", None)
    with pytest.raises(TypeError):
        solver("res1", "tanh", outer=Brownian(3))


@pytest.mark.parametrize("name", list(LIMITS))
@pytest.mark.parametrize("block", list(BLOCKS))
def test_activation_none_is_the_blocks_own_for_the_network_and_every_limit(name, block):
    expected = {"res1": "tanh", "res2": "tanh", "res3": "relu"}[block]
    assert BLOCKS[block].default_activation == expected
    assert ScaledResNet(2, 3, block=block).block.activation.name == expected
    assert _limit(name, block=block).block.activation.name == expected


@pytest.mark.parametrize("name", list(LIMITS))
def test_calling_a_limit_is_solving_it(name):
    """limit(h0, ts) == limit.solve(h0, ts), of shape (len(ts), E, n, d), as for ScaledResNet.solve."""
    solver = _limit(name)
    h0 = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ts = [0.25, 0.5, 1.0]
    with torch.no_grad():
        H = solver(h0, ts)
        assert H.shape == (3, 2, 4, 3) and torch.equal(H, solver.solve(h0, ts))
        net = ScaledResNet(16, 3, beta=0.5, outer=Brownian(3, 2, seed=1))
        assert net.solve(h0, ts).shape == H.shape


def test_the_fields_are_the_equations_right_hand_sides():
    """NeuralODE.field(t, h) = s(t) V(t) tanh(h) with V(t) = X(t)/sqrt(d); NeuralSDE.field(t, h, dX) =
    s(t) dX tanh(h) / sqrt(d): by hand (states as rows, h @ V^T)."""
    d, E = 3, 2
    h = torch.randn(E, 4, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    smooth = Smooth(d, E, seed=3)
    ode = NeuralODE(outer=smooth, scale=lambda t: 0.5)
    X = smooth.evaluate(0.3)  # (E, d, d)
    torch.testing.assert_close(ode.field(0.3, h), 0.5 * torch.tanh(h) @ X.mT / math.sqrt(d), rtol=1e-14, atol=0)
    assert ode.nfe == 1
    sde = NeuralSDE(outer=Brownian(d, E, seed=1))
    dX = torch.randn(E, 4, d, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    by_hand = (dX @ torch.tanh(h).unsqueeze(-1)).squeeze(-1) / math.sqrt(d)
    torch.testing.assert_close(sde.field(0.3, h, dX), by_hand, rtol=1e-14, atol=0)


def test_the_sde_calculus_is_the_paths_fact():
    """Brownian paths drive an Ito SDE (Euler-Maruyama by default), fBm ones a Stratonovich (Young) equation
    (Heun); a path that drives the sde limit without saying its calculus is refused."""
    assert (Brownian.sde_type, FractionalBrownian.sde_type, Smooth.sde_type) == ("ito", "stratonovich", None)
    assert NeuralSDE(outer=Brownian(3)).method == "euler"
    assert NeuralSDE(outer=FractionalBrownian(3, hurst=0.75, resolution=16)).method == "heun"
    assert NeuralSDE(outer=Brownian(3), method="heun").method == "heun"

    class Unsaid(Brownian):
        sde_type = None

    with pytest.raises(ValueError, match="outer must set sde_type to one of 'ito', 'stratonovich'; Unsaid sets None"):
        NeuralSDE(outer=Unsaid(3))


@pytest.mark.parametrize("name", list(LIMITS))
def test_moving_a_limit_moves_its_paths(name):
    solver = _limit(name, block="res2").to(torch.float32)
    assert solver.outer.dtype == solver.inner.dtype == solver.dtype == torch.float32
    h0 = torch.zeros(1, 3, dtype=torch.float32)
    assert solver(h0, [1.0]).dtype == torch.float32

"""The comparator: rate fitting, measured rates at small sizes, the reference's own error, files, bad input."""

import json

import numpy as np
import pytest
import torch

from reslimit import converge, fit_rate


def test_fit_rate_recovers_an_exact_power_law():
    depths = np.array([8, 16, 32, 64])
    errors = 3.0 * depths[:, None] ** -0.7 * np.ones((1, 10))
    r = fit_rate(depths, errors)
    assert abs(r.slope + 0.7) < 1e-12 and abs(r.ci_low + 0.7) < 1e-12 and abs(r.ci_high + 0.7) < 1e-12


def test_fit_rate_interval_covers_the_slope_of_noisy_data():
    rng = np.random.default_rng(0)
    depths = np.array([16, 32, 64, 128, 256])
    errors = depths[:, None] ** -0.5 * rng.lognormal(0, 0.5, size=(5, 200))
    r = fit_rate(depths, errors)
    assert r.ci_low < r.slope < r.ci_high and r.ci_low < -0.5 < r.ci_high
    assert 0.01 < r.ci_high - r.ci_low < 0.2  # about 4 SE of a mean of 200 lognormals, in log space


def test_fit_rate_drops_float_floor_points():
    depths = np.array([8, 16, 32, 64])
    errors = np.array([[1 / 8], [1 / 16], [1 / 32], [0.0]]) * np.ones((1, 4))
    assert abs(fit_rate(depths, errors).slope + 1) < 1e-12


def _within(conv, k=3.0):
    """|slope - theory| within k bootstrap standard errors (the 95% interval is +-1.96 SE)."""
    se = (conv.rate.ci_high - conv.rate.ci_low) / (2 * 1.96)
    return abs(conv.rate.slope - conv.theory) < k * se + 0.02  # + 0.02: pre-asymptotic bias at these depths


def test_sde_rate_small():
    c = converge("sde", block="res1", activation="tanh", width=8, depths=[16, 32, 64, 128, 256], samples=32,
                 reference_factor=32, seed=1)
    assert c.theory == -0.5 and _within(c)
    assert abs(c.grad_rate.slope + 0.5) < 0.1
    assert c.path_error.shape == (5, 32) and np.all(c.terminal_error <= c.path_error + 1e-15)


@pytest.mark.parametrize("block,activation", [("res3", "relu"), ("res2", "tanh")])
def test_ode_rate_small(block, activation):
    c = converge("ode", block=block, activation=activation, width=6, depths=[8, 16, 32, 64, 128], samples=8, seed=2)
    assert c.theory == -1.0 and _within(c) and c.passed


def test_sde_reference_step_halving_changes_errors_by_under_2_percent():
    kw = dict(width=8, depths=[16, 32, 64], samples=16, seed=3)
    a, b = converge("sde", reference_factor=64, **kw), converge("sde", reference_factor=128, **kw)
    change = np.abs(b.path_error.mean(1) / a.path_error.mean(1) - 1)
    assert change.max() < 0.02


def test_depths_that_do_not_nest_give_the_rate():
    c = converge("ode", width=6, depths=[8, 20, 32], samples=8, seed=2)
    assert c.theory == -1.0 and _within(c) and c.passed
    assert c.summary()["reference"] == {"grid": 160, "steps": 160}  # lcm(8, 20, 32), >= 32 x 2


@pytest.mark.slow  # the command line, its figure, and an sde reference on a grid that is not dyadic
@pytest.mark.parametrize("limit,depths,options", [
    ("ode", "8:32:3", ["--width", "6", "--samples", "8", "--seed", "2"]),  # 8, 20, 32: lcm 160, N = 160
    ("sde", "4:16:3", ["--width", "8", "--samples", "32", "--seed", "1", "--reference-factor", "16"]),  # N = 320
])
def test_depths_that_do_not_nest_give_the_rate_on_the_command_line(tmp_path, limit, depths, options):
    from reslimit.cli import main
    from reslimit.studies.converge import Convergence

    assert main(["converge", "--limit", limit, "--depths", depths, *options, "--out", str(tmp_path)]) == 0
    c = Convergence.load(tmp_path)
    assert _within(c) and c.passed
    grid = {"8:32:3": 160, "4:16:3": 80}[depths]
    assert json.loads((tmp_path / "manifest.json").read_text())["reference"] == {
        "grid": grid, "steps": grid * -(-int(c.depths[-1]) * c.params["reference_factor"] // grid)}


@pytest.mark.parametrize("depths,factor,grid,steps", [
    ([4, 8, 16], 4, 16, 64), ([16, 32, 1024], 64, 1024, 65536),  # nested: the largest depth, x factor
    ([4, 10, 16], 64, 80, 1040), ([8, 20, 32], 2, 160, 160), ([3, 4, 5], 8, 60, 60), ([6, 9, 12], 8, 36, 108),
])
def test_reference_grid_is_the_lcm(depths, factor, grid, steps):
    from reslimit.compare import reference_grid

    assert reference_grid(depths, factor) == (grid, steps)


def test_nested_depths_keep_the_reference_of_the_largest_depth():
    """The numbers of depths that each divide the largest are those of a reference on the largest's grid."""
    from reslimit import ScaledResNet
    from reslimit._rng import normal
    from reslimit.blocks import get_block
    from reslimit.compare import path_errors, reference
    from reslimit.limits import get_limit
    from reslimit.studies.converge import _paths

    c = converge("sde", width=3, depths=[4, 8, 16], samples=3, reference_factor=4, seed=4)
    limit, blk = get_limit("sde"), get_block("res1", "tanh")
    outer, _ = _paths(limit, c.params, False, 16 * 4)
    h0 = normal((3, 1, 3), 4, "inputs", torch.float64)
    h0 = h0 / h0.norm(dim=-1, keepdim=True)
    H, P0 = reference(limit, blk, outer, None, h0, normal((3, 1, 3), 4, "targets", torch.float64), 16, 4)
    for i, L in enumerate([4, 8, 16]):
        with torch.no_grad():
            h = ScaledResNet(L, 3, beta=0.5, block="res1", activation="tanh", outer=outer, stream=True).trajectory(h0)
        np.testing.assert_array_equal(path_errors(H, h)[..., 0].max(0).values.numpy(), c.path_error[i])


def test_save_writes_tidy_results_and_refuses_another_study(tmp_path):
    c = converge("sde", width=4, depths=[8, 16, 32], samples=4, reference_factor=8)
    c.save(tmp_path)
    lines = (tmp_path / "results.csv").read_text().splitlines()
    assert lines[0] == "depth,sample,path_error,terminal_error,grad_error" and len(lines) == 1 + 3 * 4
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert {"slope", "ci_low", "ci_high", "theory", "passed", "params", "versions"} <= set(manifest)
    assert manifest["params"]["seed"] == 0 and manifest["versions"]["torch"]
    assert (tmp_path / "convergence.png").stat().st_size > 10_000
    before = (tmp_path / "results.csv").read_bytes()
    other = converge("sde", width=4, depths=[8, 16, 32], samples=4, reference_factor=8, seed=9)
    with pytest.raises(ValueError, match="different study.*seed"):
        other.save(tmp_path)
    assert (tmp_path / "results.csv").read_bytes() == before


@pytest.mark.parametrize(
    "kwargs,msg",
    [
        (dict(depths=[0, 16, 32]), "depths"),
        (dict(depths=[16, 32]), "at least 3"),
        (dict(depths="16,32"), "depths"),
        (dict(limit="pde"), "limit"),
        (dict(limit="fbm", hurst=0.4), "hurst"),
        (dict(samples=0), "samples"),
        (dict(block="res3", activation="tanh"), "activation"),
    ],
)
def test_bad_input(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        converge(**({"width": 2, "samples": 2, "depths": [4, 8, 16]} | kwargs))


def test_activation_defaults_to_the_blocks_own(tmp_path):
    """res3 has ReLU alone, so converge and the command line need no --activation for it; tanh for the others."""
    from reslimit.cli import main

    assert converge("ode", block="res3", width=2, depths=[4, 8, 16], samples=2).params["activation"] == "relu"
    assert converge("ode", block="res2", width=2, depths=[4, 8, 16], samples=2).params["activation"] == "tanh"
    assert main(["converge", "--limit", "ode", "--block", "res3", "--width", "2", "--samples", "2", "--depths",
                 "4,8,16", "--out", str(tmp_path)]) in (0, 1)  # ran: 1 is a verdict failed at these sizes
    assert json.loads((tmp_path / "manifest.json").read_text())["params"]["activation"] == "relu"


# converge on the sweep machinery -----------------------------------------------------------------------------

SMALL = dict(limit="sde", width=3, depths=[4, 8, 16], samples=4, reference_factor=4, seed=5)


@pytest.mark.slow  # a process pool
def test_converge_points_are_chunks_of_samples_the_same_on_every_executor(tmp_path):
    """chunk=2 gives two points; a pool gives their numbers exactly; point 0 is the study of the seed itself."""
    local = converge(**SMALL, chunk=2, out=tmp_path / "local")
    pooled = converge(**SMALL, chunk=2, workers=2)
    for name in ("path_error", "terminal_error", "grad_error"):
        assert np.array_equal(getattr(local, name), getattr(pooled, name)), name
    first = converge(**(SMALL | {"samples": 2}))
    assert np.array_equal(local.path_error[:, :2], first.path_error)
    assert not np.allclose(local.path_error[:, 2:], first.path_error)  # point 1 draws other paths
    ledger = (tmp_path / "local" / "points.jsonl").read_text().splitlines()
    assert [json.loads(line)["point"] for line in ledger] == [0, 1]
    assert json.loads((tmp_path / "local" / "manifest.json").read_text())["passed"] == local.passed


def test_converge_resumes_where_it_stopped(tmp_path, monkeypatch):
    """A folder whose last point never reached the ledger: the rerun computes that point alone, same numbers."""
    from reslimit.studies import converge as study

    whole = converge(**SMALL, chunk=1, out=tmp_path)
    ledger = tmp_path / "points.jsonl"
    ledger.write_text("".join(ledger.read_text().splitlines(keepends=True)[:2]))  # points 2 and 3 lost
    computed = []
    real = study.compute_point
    monkeypatch.setattr(study, "compute_point", lambda params, point: computed.append(point["chunk"]) or
                        real(params, point))
    with pytest.warns(UserWarning):
        again = converge(**SMALL, chunk=1, out=tmp_path)
    assert sorted(computed) == [2, 3]
    assert np.array_equal(again.path_error, whole.path_error) and again.rate == whole.rate


@pytest.mark.parametrize(
    "kwargs,msg",
    [
        (dict(chunk=5), r"chunk must be at most samples=4 \(samples per point\); got 5"),
        (dict(chunk=0), "chunk must be"),
        (dict(device="tpu"), "device must be"),
        (dict(workers=10**6), "workers must be at most"),
        (dict(workers=2, scheduler="tcp://localhost:1"), "not both"),
    ],
)
def test_converge_refuses_before_any_folder(tmp_path, kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        converge(**(SMALL | kwargs), out=tmp_path / "study")
    assert not (tmp_path / "study").exists()


def test_convergence_plot_draws_both_errors_beside_the_theory(tmp_path):
    c = converge(**SMALL)
    fig = c.plot(tmp_path / "c.png")
    left, right = fig.axes
    assert left.get_xscale() == right.get_xscale() == "log" and left.get_ylabel() and right.get_ylabel()
    labels = [line.get_label() for line in left.get_lines()] + [t.get_text() for t in left.get_legend().get_texts()]
    assert any("theory" in label for label in labels), labels
    assert (tmp_path / "c.png").stat().st_size > 10_000 and (tmp_path / "c.pdf").exists()


def test_path_errors_read_the_reference_every_top_over_L_steps():
    """path_errors(H, h)[k] = ||H[k top/L] - h_k||: by hand on a reference of 8 steps and a depth-2 network."""
    from reslimit.compare import path_errors

    H = torch.arange(9 * 2, dtype=torch.float64).reshape(9, 1, 2)  # H_j = (2j, 2j + 1)
    h = torch.zeros(3, 1, 2)
    expected = torch.tensor([[(2 * j) ** 2 + (2 * j + 1) ** 2] for j in (0, 4, 8)], dtype=torch.float64).sqrt()
    assert torch.allclose(path_errors(H, h), expected)
    with pytest.raises(ValueError, match="h must have L \\+ 1 states with L dividing the reference's 8 steps; got 4"):
        path_errors(H, torch.zeros(4, 1, 2))


def test_path_error_and_depth_errors_take_the_max_over_the_layers_per_member_and_input():
    """e_L = max_k ||H[k top/L] - h_k|| per ensemble member and input, by hand: H_j = j (1, 1) for member 0 and
    -2 j (1, 1) for member 1 on a grid of 8 steps, networks whose states are all zero, so e_L = ||H_8|| for every
    L (the last layer is the farthest) -- and a network at depth 2 whose h_1 is off by 10 in member 1."""
    from reslimit.compare import depth_errors, path_error

    j = torch.arange(9, dtype=torch.float64).view(9, 1, 1, 1)
    H = torch.cat([j, -2 * j], 1).expand(9, 2, 3, 2)  # (top + 1, E, n, d)

    class Zeros:
        def __init__(self, L, bump=0.0):
            self.L, self.bump = L, bump

        def trajectory(self, h0):
            h = torch.zeros(self.L + 1, *h0.shape, dtype=torch.float64)
            h[1, 1] += self.bump
            return h

    h0 = torch.zeros(2, 3, 2, dtype=torch.float64)
    assert torch.equal(path_error(H, Zeros(4).trajectory(h0)), torch.tensor([[8.0] * 3, [16.0] * 3]) * 2**0.5)
    errors = depth_errors(H, h0, [2, 4, 8], Zeros)
    assert errors.shape == (3, 2, 3)
    assert np.allclose(errors[:, 0], 8 * 2**0.5) and np.allclose(errors[:, 1], 16 * 2**0.5)
    bumped = depth_errors(H, h0, [2], lambda L: Zeros(L, bump=10.0))  # h_1 = 10 (1, 1) against H_4 = -8 (1, 1)
    assert np.allclose(bumped[0, 1], 18 * 2**0.5) and np.allclose(bumped[0, 0], 8 * 2**0.5)


def test_the_reference_is_the_limits_solver_with_its_method_on_the_fine_grid():
    """solve_reference(sde, ..., top=8, factor=4): Euler-Maruyama with 32 steps, read at k/8."""
    from reslimit import Brownian, NeuralSDE, get_block
    from reslimit.compare import solve_reference
    from reslimit.limits import LIMITS

    path = Brownian(3, 2, seed=5)
    h0 = torch.randn(2, 1, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        H = solve_reference(LIMITS["sde"], get_block("res1", "tanh"), path, None, h0, 8, 4)
        expected = NeuralSDE(activation="tanh", outer=path, method="euler", steps=32).trajectory(h0, every=4)
    assert H.shape == (9, 2, 1, 3) and torch.equal(H, expected)


def test_the_comparator_imports_no_study():
    """compare.py holds primitives: it imports nothing from reslimit.studies (the studies import it)."""
    import ast
    from pathlib import Path

    import reslimit.compare

    tree = ast.parse(Path(reslimit.compare.__file__).read_text())
    modules = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in modules if "studies" in m]


def test_a_hurst_index_is_refused_for_a_limit_without_one():
    with pytest.raises(ValueError, match="hurst is for limit 'fbm' only; got hurst=0.7 with limit 'sde'"):
        converge("sde", hurst=0.7, width=2, depths=[4, 8, 16], samples=2)

"""device=: every tensor a network, a path, a limit or converge makes stays on the device asked for; .to() moves
the paths with the network. The CUDA tests run where a GPU is present and are skipped elsewhere."""

import numpy as np
import pytest
import torch

from reslimit import IID, Brownian, FractionalBrownian, ScaledResNet, Smooth, converge
from reslimit.ode import NeuralODE
from reslimit.sde import NeuralSDE
from reslimit.studies import bounds, scaling

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
PATHS = {"iid": lambda: IID(3, 2, seed=1), "brownian": lambda: Brownian(3, 2, seed=1),
         "smooth": lambda: Smooth(3, 2, seed=1), "fbm": lambda: FractionalBrownian(3, 2, hurst=0.7, resolution=16,
                                                                                   seed=1)}


@pytest.mark.parametrize("name", PATHS)
def test_to_keeps_the_numbers_and_returns_self_when_nothing_changes(name):
    path = PATHS[name]()
    assert path.to("cpu") is path and path.to() is path
    single = path.to(dtype=torch.float32)
    assert single.dtype == torch.float32 and path.dtype == torch.float64  # a copy: the path itself is unchanged
    eps, weights = torch.finfo(torch.float32).eps, path.weights(8)
    tol = 1e-6 * weights.abs() + 1e-7
    if name in ("fbm", "brownian"):  # weights: differences of grid values, each computed in float32 (to about an
        # ulp: a bridge's midpoints average their parents' errors), times 8^H / sqrt(3), H = 0.7 and 1/2
        grid = path.evaluate([k / 16 for k in range(17)])
        tol = 1e-6 * weights.abs() + eps * grid.abs().max().item() * 8 ** (0.7 if name == "fbm" else 0.5) / 3**0.5
    if name == "smooth":  # an entry: a float32 sum of the 2K+1 products a_k(t) c_k / sqrt(3), its inputs rounded too
        phase = np.outer(np.arange(1, 9) / 8, path._freq)
        feats = np.concatenate([np.abs(np.cos(phase)), np.abs(np.sin(phase))[:, 1:]], axis=1) * np.concatenate(
            [path._amp, path._amp[1:]])
        tol = eps * torch.as_tensor(feats @ path._coef.abs().numpy()).view(8, 2, 3, 3) * (path.n_features + 2) / 3**0.5
    for copy in (single, single.to(dtype=torch.float64)):
        assert ((copy.weights(8).double() - weights).abs() <= tol).all()
    assert not torch.equal(single.weights(8).double(), weights) or name == "iid"  # float32's rounding, within tol


def test_network_casts_move_its_paths():
    net = ScaledResNet(4, 3, block="res2", activation="tanh", ensemble=2, seed=0).double()
    assert (net.device, net.outer.device, net.inner.device) == (torch.device("cpu"),) * 3
    single = net.float()
    assert single.outer.dtype == single.inner.dtype == single.V.dtype == single.W.dtype == torch.float32


@pytest.mark.parametrize(
    "device,msg",
    [("tpu", "device must be a torch device such as 'cpu' or 'cuda:0'; got 'tpu'"),
     (3.5, "device must be a torch device"),
     ("meta", "device must be 'cpu', 'cuda' or 'mps'")],
)
def test_a_bad_device_is_refused_naming_it(tmp_path, device, msg):
    out = tmp_path / "bounds"
    for make in (lambda: IID(3, device=device), lambda: ScaledResNet(2, 3, device=device),
                 lambda: converge(width=2, depths=[4, 8, 16], samples=2, device=device),
                 lambda: scaling.study(device=device), lambda: bounds.bounds(out, device=device)):
        with pytest.raises(ValueError, match=msg):
            make()
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_refused_in_one_line():
    with pytest.raises(ValueError, match="device 'cuda' is not available: this torch sees no CUDA device; use 'cpu'"):
        ScaledResNet(2, 3, device="cuda")


@CUDA
@pytest.mark.parametrize("name", PATHS)
def test_cuda_paths_hold_the_cpu_numbers(name):
    path = PATHS[name]()
    moved = path.to("cuda")
    assert moved.device.type == "cuda" and moved.weights(8).device.type == "cuda"
    assert torch.equal(moved.weights(8).cpu(), path.weights(8))
    if name != "iid":
        assert torch.allclose(moved.evaluate([0.25, 0.5]).cpu(), path.evaluate([0.25, 0.5]), atol=1e-12)


@CUDA
def test_cuda_network_and_limits_agree_with_the_cpu():
    h0 = torch.randn(2, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    net = ScaledResNet(16, 3, beta=0.5, block="res3", ensemble=2, seed=0)
    moved = ScaledResNet(16, 3, beta=0.5, block="res3", ensemble=2, seed=0).cuda()
    assert moved.outer.device.type == moved.V.device.type == "cuda"
    with torch.no_grad():
        assert torch.allclose(moved(h0.cuda()).cpu(), net(h0), atol=1e-12)
    outer = Brownian(3, 2, seed=3)
    ts = [0.5, 1.0]
    cpu = NeuralSDE(block="res1", outer=outer, steps=64).solve(h0, ts)
    gpu = NeuralSDE(block="res1", outer=outer, steps=64, device="cuda").solve(h0.cuda(), ts)
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-10)
    smooth = Smooth(3, 2, seed=3)
    cpu = NeuralODE(block="res1", outer=smooth, method="rk4", steps=32).solve(h0, ts)
    gpu = NeuralODE(block="res1", outer=smooth, method="rk4", steps=32, device="cuda").solve(h0.cuda(), ts)
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-10)


@CUDA
def test_cuda_converge_agrees_with_the_cpu():
    kw = dict(limit="sde", width=3, depths=[4, 8, 16], samples=3, reference_factor=4)
    assert np.allclose(converge(**kw, device="cuda").path_error, converge(**kw).path_error, rtol=1e-9)


@CUDA
def test_cuda_studies_agree_with_the_cpu(tmp_path):
    kw = dict(init="iid", block="res3", betas=[0.5], depths=[8, 16], width=4, ensemble=3, samples=2, dtype="float64")
    cpu = scaling.scaling(tmp_path / "cpu", progress=False, figures=False, **kw)
    gpu = scaling.scaling(tmp_path / "gpu", progress=False, figures=False, device="cuda", **kw)
    assert np.allclose([r["hidden_ratio"] for r in gpu], [r["hidden_ratio"] for r in cpu], rtol=1e-9)
    check = bounds.plan(quick=True)["prop2"][0]
    assert np.allclose([r["measured"] for r in bounds.run_check(check, 0, "cuda")],
                       [r["measured"] for r in bounds.run_check(check, 0)], atol=1e-12)

"""Requests that exhaust memory or time are refused fast, naming the argument; those that fit still run."""

import re
import time

import numpy as np
import pytest
import torch

from reslimit import _memory, fit_rate
from reslimit.ode import NeuralODE
from reslimit.paths import IID, Brownian, FractionalBrownian, Smooth
from reslimit.regularity import regularity
from reslimit.resnet import ScaledResNet
from reslimit.sde import NeuralSDE
from reslimit.studies.propagation import propagation

H0 = torch.zeros(1, 10**5, 4, dtype=torch.float64)  # one member, 1e5 inputs of width 4 (3.2 MB)
H1 = torch.zeros(2, 1, 3, dtype=torch.float64)  # two members, one input of width 3

HUGE = {  # request -> (argument named in the message, unit or "steps")
    "smooth lengthscale 1e-9": (lambda: Smooth(16, 8, lengthscale=1e-9), "lengthscale=1e-09", "TB"),
    "smooth lengthscale 1e-7": (lambda: Smooth(4, 1, lengthscale=1e-7), "lengthscale=1e-07", None),
    "smooth features x depth": (lambda: Smooth(4, lengthscale=1e-4).weights(10**6), "depth=1000000", "steps"),
    "fbm resolution 1e9": (lambda: FractionalBrownian(4, resolution=10**9), "resolution=1000000000", "GB"),
    "fbm grid": (lambda: FractionalBrownian(64, 8, resolution=2**24), "resolution=16777216", "TB"),
    "iid depth 1e9": (lambda: IID(4).weights(10**9), "depth=1000000000", "GB"),
    "brownian depth 1e8": (lambda: Brownian(4).weights(10**8), "depth=100000000", "GB"),
    "brownian evaluate": (lambda: Brownian(64, 8).evaluate(np.linspace(0, 1, 10**6)), "len(s)=1000000", "GB"),
    "net depth 1e9": (lambda: ScaledResNet(10**9, 4), "depth=1000000000 with width=4", "GB"),
    "net depth 1e9 streamed": (lambda: ScaledResNet(10**9, 4, stream=True), "depth=1000000000", "steps"),
    "net width 1e5": (lambda: ScaledResNet(100, 10**5, block="res3"), "width=100000", "TB"),
    "net width 1e5 streamed": (lambda: ScaledResNet(100, 10**5, stream=True), "width=100000", "GB"),
    "net ensemble 1e7": (lambda: ScaledResNet(100, 16, ensemble=10**7), "ensemble=10000000", "TB"),
    "net input layer": (lambda: ScaledResNet(10, 4, input_dim=10**12), "input_dim=1000000000000", "TB"),
    "trajectory states": (lambda: ScaledResNet(10**5, 4, stream=True).trajectory(H0), "batch=100000", "GB"),
    "adjoint cache": (lambda: ScaledResNet(10**5, 4, stream=True).adjoint(H0, H0), "batch=100000", "GB"),
    "propagation depth 1e7": (lambda: propagation(depth=10**7, width=2, ensemble=2, samples=1, activations="tanh",
                                                  inits="he"), "depth=10000000", "steps"),
    "ode steps 1e9": (lambda: NeuralODE(outer=Smooth(3, 2), method="rk4", steps=10**9), "steps=1000000000", "steps"),
    "sde steps 1e9": (lambda: NeuralSDE(outer=Brownian(3, 2), steps=10**9), "steps=1000000000", "steps"),
    "sde solve steps 1e9": (lambda: NeuralSDE(outer=Brownian(3, 2)).solve(H1, [0.0, 1.0], steps=10**9),
                            "steps=1000000000", "steps"),
    "sde solve states": (lambda: NeuralSDE(outer=Brownian(4)).solve(H0[:, :10**4], steps=10**7),
                         "len(ts)=10000002 with batch=10000", "TB"),
    "ode solve states": (lambda: NeuralODE(outer=Smooth(4)).solve(H0, torch.linspace(0, 1, 10**6)),
                         "len(ts)=1000001 with batch=100000", "TB"),
    "regularity boot 1e8": (lambda: regularity(IID(4, 2).weights(64), boot=10**8), "boot=100000000", None),
    "regularity boot x columns": (lambda: regularity(torch.zeros(8, 1, 2, 1).exponential_().expand(8, 10**5, 2, 1),
                                                     boot=2 * 10**6), "boot=2000000", "steps"),  # 2e5 columns
    "fit_rate boot 1e9": (lambda: fit_rate([8, 16, 32], np.ones((3, 64)), boot=10**9), "boot=1000000000", "TB"),
}


@pytest.mark.parametrize("name", sorted(HUGE))
def test_huge_request_is_refused_fast(name):
    request, argument, unit = HUGE[name]
    start = time.perf_counter()
    with pytest.raises(ValueError) as err:
        request()
    assert time.perf_counter() - start < 5.0
    message = str(err.value)
    assert argument in message
    if unit == "steps":
        assert "steps" in message and "allowed" in message
    else:  # a size in human units and what is available; the memory check may come before the steps check
        assert re.search(r"needs about [\d.e+]+ (MB|GB|TB)", message) or "steps" in message
        assert unit is None or unit in message


def test_solver_steps_at_the_limit_are_taken():
    assert NeuralSDE(outer=Brownian(3, 2), steps=_memory.MAX_STEPS).steps == 10**7
    assert NeuralODE(outer=Smooth(3, 2), method="rk4", steps=_memory.MAX_STEPS).options["step_size"] == 1e-7
    with pytest.raises(ValueError, match=r"^steps=10000001 needs about 1e\+07 steps .* for the fixed-step solve"):
        NeuralODE(outer=Smooth(3, 2), method="rk4", steps=_memory.MAX_STEPS + 1)


def test_estimate_decides_at_a_fraction_of_what_is_available(monkeypatch):
    monkeypatch.setattr(_memory, "available", lambda device=None: 10 * 10**6)  # 10 MB
    path = IID(64)  # a layer is 64^2 x 8 = 32.8 kB
    with pytest.raises(ValueError, match=r"depth=640 needs about 21 MB .* 80% of the 10 MB available"):
        path.weights(640)
    assert path.weights(32).shape == (32, 1, 64, 64)  # 1 MB
    with pytest.raises(ValueError, match=r"depth=640 with width=64, ensemble=1 needs about 21 MB.*depth=244 at most"):
        ScaledResNet(640, 64)
    with pytest.raises(ValueError, match=r"width=64 with ensemble=1 needs about 21 MB for one chunk"):
        ScaledResNet(640, 64, stream=True)  # one chunk is up to 64 MB, here all 640 layers
    assert ScaledResNet(200, 64, stream=True).stream  # a chunk of 6.55 MB
    assert ScaledResNet(32, 64).V.shape == (32, 1, 64, 64)


@pytest.mark.parametrize("what, request_", [
    ("values of the IID path", lambda: IID(16, 4).weights(100)),
    ("the weights V and W", lambda: torch.cat([(net := ScaledResNet(100, 16, ensemble=4, block="res3")).V, net.W])),
    ("spectral features", lambda: Smooth(8, 2, lengthscale=0.01)._coef),
    ("the fBm grid", lambda: FractionalBrownian(64, 8, resolution=16)._path()),
    ("recorded states", lambda: ScaledResNet(50, 8, ensemble=2).trajectory(torch.zeros(2, 30, 8, dtype=torch.float64))
     .repeat(2, 1, 1, 1)),  # the list of states and their stack
])
def test_estimate_matches_the_tensors_within_a_factor_2(monkeypatch, what, request_):
    asked, require = {}, _memory.require

    def record(nbytes, text, *args):
        asked[text] = nbytes
        require(nbytes, text, *args)

    monkeypatch.setattr(_memory, "require", record)
    actual = request_().nbytes
    (estimate,) = [nbytes for text, nbytes in asked.items() if what in text]
    assert actual / 2 <= estimate <= 2 * actual


def test_trajectory_estimate_is_checked_before_the_pass(monkeypatch):
    net = ScaledResNet(50, 8, ensemble=2)
    h0 = torch.zeros(2, 30, 8, dtype=torch.float64)  # a state is 3.84 kB; 2 x 51 + 3 of them 403 kB
    monkeypatch.setattr(_memory, "available", lambda device=None: 400 * 10**3)
    with pytest.raises(ValueError, match=r"batch=30 with ensemble=2, width=8 needs about 403 kB .*every"):
        net.trajectory(h0)
    assert net.trajectory(h0, every=10).shape == (6, 2, 30, 8)


def test_fbm_lists_the_divisors_of_a_large_resolution():
    with pytest.raises(ValueError, match=r"depth=3 does not divide resolution=1048576.*\[1, 2, 4, .*, 1048576\]"):
        FractionalBrownian(1, resolution=2**20).weights(3)


def test_available_reads_the_address_space_limit(monkeypatch):
    total = _memory._read_int("/proc/meminfo", "MemTotal")
    assert 0 < _memory.available() <= total
    used = _memory._read_int("/proc/self/status", "VmSize")
    monkeypatch.setattr(_memory.resource, "getrlimit", lambda _: (used + 50 * 10**6, _memory.resource.RLIM_INFINITY))
    assert _memory.available() <= 50 * 10**6


@pytest.mark.parametrize("nbytes, text", [(999, "999 bytes"), (21 * 10**6, "21 MB"), (1.28e11, "128 GB"),
                                          (3.55e13, "35.5 TB")])
def test_human_units(nbytes, text):
    assert _memory.human(nbytes) == text

"""The compiled pass (reslimit.native) against the engine's torch loop, its fallback and its threads."""

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch

from reslimit import ACTIVATIONS, ScaledResNet, diverged, native

COMPILER = shutil.which(os.environ.get("CC", "cc"))
pytestmark = pytest.mark.skipif(COMPILER is None or not native.ENABLED,
                                reason="no C compiler (or RESLIMIT_NATIVE=0): the torch loop serves every pass")


# every block and activation the kernel serves besides ReLU's res-2 and res-3 (test_compiled_pass_equals_torch_loop)
SERVED = [("res1", "relu"), ("res1", "tanh"), ("res1", "identity"), ("res1", "leaky_relu:0.1"), ("res2", "tanh"),
          ("res2", "identity"), ("res2", "leaky_relu:0.2")]


def _net(L, d, E, dtype, block="res3", seed=0, activation="relu"):
    return ScaledResNet(L, d, beta=0.5, block=block, activation=activation, ensemble=E, seed=seed,
                        dtype=dtype).requires_grad_(False)


def _passes(net, h0, pL, every, alpha):
    """(trajectory, forward, adjoint with p_L a tensor, adjoint with p_L a function of h_L) of one network."""
    with torch.no_grad():
        return (net.trajectory(h0, every, alpha=alpha), net(h0, alpha=alpha), net.adjoint(h0, pL, every, alpha=alpha),
                net.adjoint(h0, lambda hL: hL - pL, every, alpha=alpha))


def _torch_loop(monkeypatch, *args):
    with monkeypatch.context() as m:
        m.setattr(native, "ENABLED", False)
        return _passes(*args)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
@pytest.mark.parametrize("L, d, E, n, every", [(10, 40, 2, 33, 1), (13, 7, 1, 17, 4), (5, 12, 4, 2, 5), (1, 1, 1, 1, 1),
                                               (9, 6, 3, 16, 3), (4, 3, 2, 3, 7)])  # every > L: h_0, h_L
@pytest.mark.parametrize("scales", ["float", "per input", "per member and input"])
def test_compiled_pass_equals_torch_loop(monkeypatch, dtype, tol, L, d, E, n, every, scales):
    net = _net(L, d, E, dtype, block="res2" if d == 12 else "res3")  # res-2 with ReLU is the same pass
    g = torch.Generator().manual_seed(L * d)
    h0, pL = torch.randn(E, n, d, dtype=dtype, generator=g), torch.randn(E, n, d, dtype=dtype, generator=g)
    alpha = {"float": None, "per input": torch.rand(n, dtype=dtype, generator=g),
             "per member and input": torch.rand(E, n, dtype=dtype, generator=g)}[scales]
    assert net._engine(h0) == "compiled", native.status(dtype)
    for got, want in zip(_passes(net, h0, pL, every, alpha), _torch_loop(monkeypatch, net, h0, pL, every, alpha)):
        assert got.shape == want.shape
        assert (got - want).abs().max() <= tol * want.abs().max()


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
@pytest.mark.parametrize("block, activation", SERVED)
@pytest.mark.parametrize("L, d, E, n, every", [(10, 40, 1, 33, 1), (13, 7, 5, 17, 4), (6, 12, 2, 2, 7)])
@pytest.mark.parametrize("scales", ["float", "per input", "per member and input"])
def test_other_blocks_and_activations_equal_the_torch_loop(monkeypatch, dtype, tol, block, activation, L, d, E, n,
                                                           every, scales):
    """res-1 and res-2 with ReLU, tanh, the identity, leaky ReLU: trajectories, outputs and adjoints (p_L a tensor and
    a function of h_L) as the torch loop's, on 3 threads (1 and 2 members fewer than threads, 5 more), widths and
    batches that are not multiples of the tile, every alpha form; h_0 spread so tanh takes both of its branches."""
    net = _net(L, d, E, dtype, block=block, activation=activation)
    g = torch.Generator().manual_seed(L * d)
    h0, pL = 2 * torch.randn(E, n, d, dtype=dtype, generator=g), torch.randn(E, n, d, dtype=dtype, generator=g)
    alpha = {"float": None, "per input": torch.rand(n, dtype=dtype, generator=g),
             "per member and input": torch.rand(E, n, dtype=dtype, generator=g)}[scales]
    assert net._engine(h0) == "compiled", native.status(dtype)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        got = _passes(net, h0, pL, every, alpha)
    finally:
        torch.set_num_threads(threads)
    for got, want in zip(got, _torch_loop(monkeypatch, net, h0, pL, every, alpha)):
        assert got.shape == want.shape
        assert (got - want).abs().max() <= tol * want.abs().max()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("block, activation", [("res3", "relu"), *SERVED])
def test_overflow_of_every_block_is_flagged_as_with_the_torch_loop(monkeypatch, dtype, block, activation):
    """Per-input alphas from 0 to the dtype's largest number: the states overflow (inf, then NaN through the products
    and sigma: tanh(inf) = 1, tanh(NaN) = NaN) for the large ones, not for the small ones; the kernel flags the same
    samples diverged as the torch loop on h_L and the recorded states, and on p_0 and the recorded p_k of every sample
    whose forward pass stayed finite. (Where it did not, inf or NaN in p_k is a matter of rounding at the top of the
    range: the kernel adds alpha (V g) to x in one fused multiply-add, the loop x + V (alpha g); with tanh, whose
    bounded g can overflow the states only there, a state at inf in one is NaN in the other, and the adjoint reads
    1 - tanh(inf)^2 = 0 where the other reads NaN.)"""
    big = torch.finfo(dtype).max
    net = ScaledResNet(200, 8, block=block, activation=activation, ensemble=3, dtype=dtype).requires_grad_(False)
    h0 = torch.randn(3, 7, 8, dtype=dtype, generator=torch.Generator().manual_seed(2))
    pL, alpha = torch.ones_like(h0), torch.tensor([0, 0.2, 1, 1e3, big**0.8, big**0.95, big], dtype=dtype)
    with torch.no_grad():
        assert net._engine(h0) == "compiled"
        got = net(h0, alpha=alpha), net.trajectory(h0, 50, alpha=alpha), net.adjoint(h0, pL, 50, alpha=alpha)
        with monkeypatch.context() as m:
            m.setattr(native, "ENABLED", False)
            want = net(h0, alpha=alpha), net.trajectory(h0, 50, alpha=alpha), net.adjoint(h0, pL, 50, alpha=alpha)
    assert diverged(got[0]).any() and not diverged(got[0]).all()
    assert torch.equal(diverged(got[0]), diverged(want[0])) and torch.equal(diverged(got[1]), diverged(want[1]))
    finite = ~diverged(want[0])
    assert torch.equal(diverged(got[2])[:, finite], diverged(want[2])[:, finite])
    if activation != "tanh":  # unbounded: the states overflow well below the top of the range, p_k with them
        assert torch.equal(diverged(got[2]), diverged(want[2])) and diverged(got[2][0]).any()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_the_kernels_tanh_is_torchs_to_a_few_ulps(dtype):
    """One layer of res-1 with V = I and alpha = 1: h_1 = x + tanh(x) and p_0 = p_1 + (1 - tanh(x)^2) p_1, against
    torch.tanh over both branches of the kernel's tanh (|x| < 0.625 and above), its cap (|x| >= 20), huge numbers,
    inf, -inf and NaN (torch.tanh: 1, -1 and NaN). Each input's d = 8 entries are equal, so the product by I (0 x NaN
    is NaN) mixes no special number into a finite input."""
    eps, V = torch.finfo(dtype).eps, torch.eye(8, dtype=dtype).expand(1, 1, 8, 8).contiguous()
    x = torch.cat([torch.linspace(-25, 25, 20001, dtype=dtype), torch.logspace(-30, 30, 61, dtype=dtype),
                   -torch.logspace(-30, 30, 61, dtype=dtype), torch.tensor([0.625, -0.625, 0.0], dtype=dtype)])
    h1 = native.run_pass(V, None, x.reshape(1, -1, 1).expand(1, -1, 8), 1.0, activation="tanh")[0]
    tanh = torch.tanh(x).reshape(1, -1, 1)
    bound = 4 * eps * (x.abs().reshape(1, -1, 1) + tanh.abs())  # 1 rounding of the sum, 3 ulps of tanh
    assert ((h1 - (x.reshape(1, -1, 1) + tanh)).abs() <= bound).all()
    special = torch.tensor([float("inf"), -float("inf"), float("nan"), 1e30, -1e30, 30.0, -0.3],
                           dtype=dtype).reshape(1, -1, 1).expand(1, -1, 8)
    hL, _, p = native.run_pass(V, None, special, 1.0, grad_output=torch.ones_like(special), activation="tanh")
    want_h, want_p = special + torch.tanh(special), 1 + (1 - torch.tanh(special) ** 2)
    assert torch.equal(torch.isnan(hL), torch.isnan(want_h)) and torch.equal(torch.isinf(hL), torch.isinf(want_h))
    assert torch.allclose(hL, want_h, rtol=4 * eps, atol=0, equal_nan=True)
    assert torch.allclose(p[0], want_p, rtol=4 * eps, atol=4 * eps, equal_nan=True)

@pytest.mark.parametrize("block, activation", [("res3", "relu"), *SERVED])
def test_threads_split_the_work_without_changing_a_bit(block, activation):
    """One thread, two, or three (members split into blocks of inputs when fewer than threads): the same numbers."""
    net = _net(12, 9, 1, torch.float64, block=block, activation=activation)
    h0 = torch.randn(1, 40, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    threads = torch.get_num_threads()
    try:
        runs = []
        for t in (1, 2, 3):
            torch.set_num_threads(t)
            runs.append(_passes(net, h0, h0, 1, None))
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(a, b) for run in runs[1:] for a, b in zip(run, runs[0]))



def test_without_openmp_threads_of_pythons_give_the_same_numbers(monkeypatch):
    """A kernel built without OpenMP (a compiler without it) runs its threads as Python's: the same numbers, bit
    for bit, as the one parallel region on torch's OpenMP threads, for the passes and the weights' gradients."""
    lib = native._library(torch.float64)
    if not lib.reslimit_openmp():
        pytest.skip("the compiler has no OpenMP: every test here runs the kernel on Python's threads already")
    net = _net(12, 9, 3, torch.float64).requires_grad_(True)
    h0 = torch.randn(3, 40, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    threads = torch.get_num_threads()
    runs = []
    try:
        torch.set_num_threads(2)
        for openmp in (1, 0):
            monkeypatch.setattr(lib, "reslimit_openmp", lambda openmp=openmp: openmp)
            net.zero_grad(set_to_none=True)
            net(h0).square().sum().backward()
            runs.append((*_passes(net, h0, h0, 1, None), net.V.grad, net.W.grad))
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(a, b) for a, b in zip(*runs))

def test_overflow_is_reported_as_with_the_torch_loop(monkeypatch):
    """Depth 1000, alpha from 0 to 1 across the inputs (E ||h_L||^2 grows like (1 + alpha^2 / 2)^L): the large
    alphas overflow float32, the small ones do not; the same samples are flagged diverged."""
    net = ScaledResNet(1000, 8, block="res3", ensemble=4, dtype=torch.float32).requires_grad_(False)
    h0 = torch.randn(4, 6, 8, dtype=torch.float32, generator=torch.Generator().manual_seed(2))
    pL, alpha = torch.ones_like(h0), torch.linspace(0, 1, 6)
    hL, p = net(h0, alpha=alpha), net.adjoint(h0, pL, every=1000, alpha=alpha)
    with monkeypatch.context() as m:
        m.setattr(native, "ENABLED", False)
        hL_loop, p_loop = net(h0, alpha=alpha), net.adjoint(h0, pL, every=1000, alpha=alpha)
    assert diverged(hL).any() and not diverged(hL).all()
    assert torch.equal(diverged(hL), diverged(hL_loop)) and torch.equal(diverged(p[0]), diverged(p_loop[0]))


def test_autograd_and_streamed_weights_take_the_torch_loop():
    net = ScaledResNet(5, 4, block="res3", ensemble=2)
    h0 = torch.randn(2, 3, 4, dtype=torch.float64)
    assert net._engine(h0) == "explicit compiled"  # the weights require grad: the kernel's explicit adjoint
    with torch.no_grad():
        assert net._engine(h0) == "compiled"
        assert ScaledResNet(5, 4, block="res3", ensemble=2, stream=True)._engine(h0) == "torch"
        assert ScaledResNet(5, 4, block="res2", activation=torch.tanh, ensemble=2)._engine(h0) == "torch"
        assert ScaledResNet(5, 4, block="res1", activation="leaky_relu:-0.2", ensemble=2)._engine(h0) == "torch"


def test_without_a_compiler_the_torch_loop_serves(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("RESLIMIT_CACHE", str(tmp_path))
    monkeypatch.setattr(native, "_libraries", {})
    net = _net(6, 5, 2, torch.float64)
    h0 = torch.randn(2, 3, 5, dtype=torch.float64)
    assert net._engine(h0) == "torch"
    assert native.status(torch.float64).startswith("torch loop (could not build the kernel:")
    assert "no-such-compiler" in native.status(torch.float64)
    assert torch.isfinite(net.adjoint(h0, h0)).all()


def test_kernel_is_built_once_per_dtype_and_cpu(monkeypatch, tmp_path):
    monkeypatch.setenv("RESLIMIT_CACHE", str(tmp_path))
    monkeypatch.setattr(native, "_libraries", {})
    assert native.status(torch.float32).startswith("compiled kernel")
    built = sorted(p.name for p in tmp_path.iterdir())  # the library and its sha256, no leftover build folder
    assert len(built) == 2 and built[0].startswith("kernel_float_") and built[1] == built[0] + ".sha256"
    so = tmp_path / built[0]
    assert (tmp_path / built[1]).read_text() == f"{hashlib.sha256(so.read_bytes()).hexdigest()}  {so.name}\n"
    monkeypatch.setattr(native, "_libraries", {})
    monkeypatch.setattr(native.subprocess, "run", lambda *a, **k: pytest.fail("compiled again"))
    assert native.status(torch.float32).startswith("compiled kernel")  # read back from the cache folder


def test_a_network_cast_to_float32_casts_its_paths_and_refuses_float64_states():
    """.float() casts the weights and the paths with them: the network is float32 throughout, a float64 input is
    refused naming h0 (the kernel never reads float64 states as float32), and a float32 one runs as a fresh
    float32 network (float64 draws are float32 ones widened, so the weights agree to float32 rounding)."""
    net = _net(4, 3, 2, torch.float64).float()
    assert net.dtype == net.outer.dtype == net.V.dtype == torch.float32
    with pytest.raises(ValueError, match="h0 must have dtype torch.float32 like the weights"):
        net(torch.randn(2, 3, 3, dtype=torch.float64))
    h0 = torch.randn(2, 3, 3, dtype=torch.float32)
    fresh = _net(4, 3, 2, torch.float32)
    assert torch.allclose(net.V, fresh.V, rtol=2e-7, atol=0) and not torch.equal(net.V, 0 * fresh.V)
    with torch.no_grad():
        assert torch.allclose(net(h0), fresh(h0), atol=1e-6)


def test_a_home_that_cannot_be_written_builds_in_the_temp_folder(monkeypatch, tmp_path):
    (tmp_path / "home").write_text("a file, so no folder can be made below it")
    monkeypatch.delenv("RESLIMIT_CACHE", raising=False)
    monkeypatch.setattr(native.Path, "home", staticmethod(lambda: tmp_path / "home"))
    monkeypatch.setattr(native.tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.setattr(native, "_libraries", {})
    assert native.status(torch.float64).startswith(f"compiled kernel {tmp_path / 'tmp'}")


_RES3_PASS = textwrap.dedent("""
    import torch
    from reslimit import ScaledResNet, native
    net = ScaledResNet(6, 5, beta=0.5, block="res3", ensemble=2, seed=0, dtype=torch.float64).requires_grad_(False)
    h0 = torch.randn(2, 7, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = (net(h0), net.adjoint(h0, h0, 2))
        native.ENABLED = False
        want = (net(h0), net.adjoint(h0, h0, 2))
        native.ENABLED = True
    assert all((a - b).abs().max() <= 1e-12 * b.abs().max() for a, b in zip(got, want))
    print(native.status(torch.float64))
""")


def _fresh_process(cache, **env):
    """A res-3 pass in float64 in a new process, compiled against the torch loop; (exit code, output)."""
    run = subprocess.run([sys.executable, "-c", _RES3_PASS], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "RESLIMIT_CACHE": str(cache), **env})
    return run.returncode, run.stdout + run.stderr


def _cached_kernel(cache):
    (so,) = cache.glob("kernel_double_*.so")
    return so, so.with_name(so.name + ".sha256")


def _verifies(cache):
    so, digest = _cached_kernel(cache)
    return digest.read_text().split()[0] == hashlib.sha256(so.read_bytes()).hexdigest()


def _symbol_less_library(tmp_path):
    (tmp_path / "other.c").write_text("int reslimit_something_else(void) { return 1; }\n")
    subprocess.run([COMPILER, "-shared", "-fPIC", str(tmp_path / "other.c"), "-o", str(tmp_path / "other.so")],
                   check=True)
    return (tmp_path / "other.so").read_bytes()


def _build_here(monkeypatch, cache, dtype=torch.float64):
    """Build (and load, in this process) the kernel into ``cache``; its library and digest files."""
    with monkeypatch.context() as m:
        m.setenv("RESLIMIT_CACHE", str(cache))
        m.setattr(native, "_libraries", {})
        assert native.status(dtype).startswith("compiled kernel")
    return _cached_kernel(cache)


@pytest.fixture(scope="module")
def built_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as m:
        cache = tmp_path_factory.mktemp("built")
        _build_here(m, cache)
        return cache


def _truncate(so, digest, tmp_path):
    so.write_bytes(so.read_bytes()[: so.stat().st_size // 2])


def _garbage(so, digest, tmp_path):
    so.write_bytes(os.urandom(so.stat().st_size))


def _no_symbols(so, digest, tmp_path):
    so.write_bytes(_symbol_less_library(tmp_path))


def _no_digest(so, digest, tmp_path):
    digest.unlink()


def _no_symbols_digest_matching(so, digest, tmp_path):
    """The digest checks out, so the library is opened: the missing symbols must be caught after the load."""
    so.write_bytes(_symbol_less_library(tmp_path))
    digest.write_text(f"{hashlib.sha256(so.read_bytes()).hexdigest()}  {so.name}\n")


@pytest.mark.slow  # a fresh process rebuilds the kernel
@pytest.mark.parametrize("damage", [_truncate, _garbage, _no_symbols, _no_digest, _no_symbols_digest_matching])
def test_a_damaged_cached_kernel_is_rebuilt_not_loaded(monkeypatch, tmp_path, built_cache, damage):
    """Truncated (SIGBUS when mapped), garbage, another library, its digest missing: a fresh process rebuilds the
    kernel instead of crashing, computes what the torch loop computes, and leaves a verified kernel."""
    cache = tmp_path / "cache"
    shutil.copytree(built_cache, cache)
    damage(*_cached_kernel(cache), tmp_path)
    code, out = _fresh_process(cache)
    assert code == 0, out  # -7 would be SIGBUS
    assert out == f"compiled kernel {_cached_kernel(cache)[0]}\n", out
    assert _verifies(cache)
    monkeypatch.setenv("RESLIMIT_CACHE", str(cache))
    monkeypatch.setattr(native, "_libraries", {})
    monkeypatch.setattr(native.subprocess, "run", lambda *a, **k: pytest.fail("compiled again"))
    assert native.engine("res3", "relu", torch.float64) == "compiled"  # the rebuilt kernel is loaded as it is


@pytest.mark.slow  # the kernel is rebuilt
@pytest.mark.parametrize("damage", ["garbage with its digest", "empty digest", "digest of another file"])
def test_a_kernel_that_does_not_verify_in_this_process_is_rebuilt(monkeypatch, tmp_path, built_cache, damage):
    """Cases dlopen survives (or never sees), in this process: rebuilt, loaded, verified."""
    cache = tmp_path / "cache"
    shutil.copytree(built_cache, cache)
    so, digest = _cached_kernel(cache)
    if damage == "garbage with its digest":
        so.write_bytes(b"not a shared object" * 100)
        digest.write_text(hashlib.sha256(so.read_bytes()).hexdigest())
    else:
        digest.write_text("" if damage == "empty digest" else f"{hashlib.sha256(b'other').hexdigest()}  {so.name}")
    assert _build_here(monkeypatch, cache) == (so, digest)
    assert _verifies(cache)


@pytest.mark.slow  # builds in a fresh process, then a failed rebuild
def test_a_damaged_kernel_that_cannot_be_rebuilt_leaves_the_torch_loop(monkeypatch, tmp_path):
    """The compiler (the same $CC, so the same cache key) fails on the rebuild of a truncated kernel: the torch
    loop serves, and status says why."""
    cache, cc = tmp_path / "cache", tmp_path / "cc"
    cc.write_text(f'#!/bin/sh\nexec "{COMPILER}" "$@"\n')
    cc.chmod(0o755)
    monkeypatch.setenv("CC", str(cc))
    assert _fresh_process(cache)[0] == 0  # built in another process: this one must not map what is cut below
    _truncate(*_cached_kernel(cache), tmp_path)
    cc.write_text("#!/bin/sh\necho the compiler is broken >&2\nexit 1\n")
    code, out = _fresh_process(cache)
    assert code == 0, out
    assert out.startswith(f"torch loop (could not build the kernel: {cc} failed: the compiler is broken"), out
    assert "did not verify: its sha256" in out, out


def test_engine_names_what_serves_each_block(monkeypatch, tmp_path):
    monkeypatch.setenv("RESLIMIT_CACHE", str(tmp_path))
    monkeypatch.setattr(native, "_libraries", {})
    assert native.engine("res3", "relu", torch.float64) == "compiled"
    assert native.engine("res2", "relu", torch.float32) == "compiled"
    for block, activation in SERVED:
        assert native.engine(block, activation, torch.float32) == "compiled", (block, activation)
    assert native.engine("res1", ACTIVATIONS["tanh"], torch.float64) == "compiled"
    assert native.engine("res2", "leaky_relu:0", torch.float64) == "torch"  # sigma' needs the input where g = 0
    assert native.engine("res1", "leaky_relu:-0.3", torch.float64) == "torch"  # likewise: g's sign is not x's
    assert native.engine("res2", "leaky_relu:oops", torch.float64) == "torch"  # no such activation
    assert native.engine("res2", torch.tanh, torch.float64) == "torch"  # a callable: the torch loop
    assert native.engine("res3", "tanh", torch.float64) == "torch"  # no such block: res-3 is ReLU's
    assert native.engine("res3", "relu", torch.float16) == "torch"  # no kernel for this dtype
    assert native.engine("res2", ACTIVATIONS["relu"], torch.float64) == "compiled"
    assert native.engine("res2", torch.relu, torch.float64) == "torch"  # a callable: the torch loop
    for block, activation in (("res3", "relu"), ("res2", "relu"), ("res2", "tanh"), ("res1", "relu"),
                              ("res3", torch.relu), ("res2", ACTIVATIONS["relu"]), ("res1", "leaky_relu:-0.3"),
                              ("res2", "leaky_relu:0.2"), ("res1", torch.tanh)):
        net = ScaledResNet(3, 4, block=block, activation=activation, ensemble=2).requires_grad_(False)
        with torch.no_grad():
            served = net._engine(torch.zeros(2, 3, 4, dtype=torch.float64)) == "compiled"
        assert native.engine(block, activation, torch.float64) == ("compiled" if served else "torch")
    with monkeypatch.context() as m:
        m.setattr(native, "ENABLED", False)
        assert native.engine("res3", "relu", torch.float64) == "torch"
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setattr(native, "_libraries", {})
    assert native.engine("res3", "relu", torch.float64) == "torch"


@pytest.mark.slow  # two processes build the kernel at once
def test_two_processes_building_at_once_both_get_a_verified_kernel(tmp_path):
    """Each builds under its own temporary name and renames into place: neither loads half a library."""
    cache = tmp_path / "cache"
    runs = [subprocess.Popen([sys.executable, "-c", _RES3_PASS], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, env={**os.environ, "RESLIMIT_CACHE": str(cache)}) for _ in range(2)]
    for run in runs:
        out = run.communicate(timeout=300)[0]
        assert run.returncode == 0 and out.startswith("compiled kernel"), out
    assert _verifies(cache)
    # each library beside its digest, no build folder left (the float32 one too: reslimit._rng draws with it)
    names = sorted(p.name for p in cache.iterdir())
    assert names == sorted(n for so in cache.glob("kernel_*.so") for n in (so.name, so.name + ".sha256"))
    assert _cached_kernel(cache)[0].name in names and any(n.startswith("kernel_float_") for n in names)

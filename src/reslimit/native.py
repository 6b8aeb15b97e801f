"""The engine's pass as a compiled kernel, built on first use: the blocks whose ``kernel`` is "res2" (g =
sigma(W h): res-2, res-3) or "res1" (g = sigma(h): res-1), with sigma one of ReLU, tanh, the identity and leaky
ReLU of a positive slope (the activations whose ``kernel`` is set: their derivative is read from their output g:
ReLU 1[g > 0], tanh 1 - g^2, leaky ReLU 1 where g > 0 else the slope, the identity 1).

    res-2, res-3 (g = sigma(W h))
    forward   g_k = sigma(W_k x_k),                 x_{k+1} = x_k + alpha V_k g_k
    adjoint   q_k = sigma'(g_k) * (V_k^T p_{k+1}),  p_k = p_{k+1} + alpha W_k^T q_k
    weights   dV_k = alpha p_{k+1} g_k^T,           dW_k = alpha q_k x_k^T   (summed over the inputs)

    res-1 (g = sigma(h))
    forward   g_k = sigma(x_k),                     x_{k+1} = x_k + alpha V_k g_k
    adjoint   q_k = sigma'(g_k) * (V_k^T p_{k+1}),  p_k = p_{k+1} + alpha q_k
    weights   dV_k = alpha p_{k+1} g_k^T

``native.c`` runs each ensemble member (or block of inputs) through all layers in one call, on one
thread per core with no synchronisation between layers (torch's OpenMP threads where the compiler has
OpenMP: they are awake after torch's last operation, where threads of our own would share the cores with
them while they spin; else threads of Python's), its elementwise steps fused into the products
and the next layer's weights prefetched: torch's batched GEMMs stall on every layer's weights and join
their threads after every kernel (benchmarks/README.md). It is compiled, with ``random.c`` (the generator of
``reslimit._rng``), with the system C compiler
(``$CC``, default ``cc``) into a cache folder (``$RESLIMIT_CACHE``, default ``~/.cache/reslimit``, else
``reslimit-<uid>`` in the temp folder) the first time a pass needs it (seconds per dtype: 7 s of CPU on a loaded
2-core machine), as ``kernel_<ctype>_<key>.so`` (the key hashes the sources, compiler, flags and CPU) with its
sha256 in ``kernel_<ctype>_<key>.so.sha256``. Both are written under temporary names and renamed into place, so
concurrent processes never see half a library.

A library runs code when it is opened (its constructors), so the cache is trusted for who may write it, not for
what it says of itself: the folder (created with mode 0o700) must be this user's own and writable by no one
else, and so must the library (checked with lstat, then stat where a link leads): a folder or library of
another user, or one that the group or anyone may write (a folder someone else made first in the temp folder,
a chmod 777), is refused, and the torch loop serves, :func:`status` saying why. The sha256 beside a library is
then only an integrity check: a cached library is opened only once its bytes match it, and kept only with
every symbol the Python side calls: a truncated, overwritten or foreign file, or a missing digest, is rebuilt
once instead of loaded. Where building fails, or with
``RESLIMIT_NATIVE=0``, the engine runs its torch loop instead, with the same results up to rounding:
:func:`status` says which and why, :func:`engine` which one serves a given block.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import platform
import stat
import subprocess
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Callable

import torch

Tensor = torch.Tensor
ENABLED = os.environ.get("RESLIMIT_NATIVE", "1") != "0"
_SOURCES = [Path(__file__).with_name(name) for name in ("native.c", "random.c")]  # random.c: reslimit._rng's
_CTYPES = {torch.float32: "float", torch.float64: "double"}
_SYMBOLS = ("reslimit_pass_threads", "reslimit_tile_columns", "reslimit_openmp",  # all the Python side calls
            "reslimit_random", "reslimit_adam")
_ACTIVATIONS = {"relu": 0, "tanh": 1, "leaky_relu": 2, "identity": 3}  # native.c's enum activation
# Random123's known answer for ARS-7 (its test of ars1xm128i at 7 rounds): key 1, counter 1, the block's bytes
ARS_KNOWN = (1, 1, bytes.fromhex("2b1623350cd214dc7740187993411872"))
_libraries: dict[torch.dtype, ctypes.CDLL | str] = {}  # the loaded kernel, or why it could not be built
_lock = threading.Lock()


def usable(V: Tensor, W: Tensor | None, h: Tensor) -> bool:
    """Whether the compiled pass can run on these weights (V (L, E, d, M), W (L, E, M, d) or None for res-1, M the
    hidden width) and states: CPU, one dtype, float32 or float64, contiguous weights, and a kernel built for the
    dtype (built here on first use)."""
    weights = (V,) if W is None else (V, W)
    return (ENABLED and all(t.device.type == "cpu" and t.dtype == h.dtype and t.is_contiguous() for t in weights)
            and h.device.type == "cpu" and h.dtype in _CTYPES and isinstance(_library(h.dtype), ctypes.CDLL))


def adam_step(p: Tensor, g: Tensor, m: Tensor, v: Tensor, rate: Tensor, axis: int, betas: tuple[float, float],
              c2: float, eps: float) -> bool:
    """Adam's step on the parameter ``p`` in one pass of the compiled library (``reslimit_adam`` of native.c):
    m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, p -= rate_e m / (sqrt(v) / c2 + eps), in place, for ``rate``
    (E,) one rate per member of the ensemble axis ``axis`` of p. Returns False, having done nothing, where the
    library does not serve these tensors (not CPU, not contiguous, another dtype, no library): the caller then
    takes torch's operations."""
    tensors = (p, g, m, v, rate)
    if not (ENABLED and p.dtype in _CTYPES and all(t.device.type == "cpu" and t.dtype == p.dtype and t.is_contiguous()
                                                   for t in tensors) and g.shape == m.shape == v.shape == p.shape
            and rate.shape == (p.shape[axis],)):
        return False
    lib = _library(p.dtype)
    if not isinstance(lib, ctypes.CDLL):
        return False
    outer, inner = math.prod(p.shape[:axis]), math.prod(p.shape[axis + 1:])
    S, D = ctypes.c_size_t, ctypes.c_double
    lib.reslimit_adam(S(outer), S(p.shape[axis]), S(inner), *(ctypes.c_void_p(t.data_ptr()) for t in tensors),
                      D(betas[0]), D(betas[1]), D(c2), D(eps))
    return True


def status(dtype: torch.dtype = torch.float32) -> str:
    """Which engine serves the compiled pass in this dtype: the compiled kernel (and its file) or why not."""
    if not ENABLED:
        return "torch loop (RESLIMIT_NATIVE=0)"
    lib = _library(dtype) if dtype in _CTYPES else f"no kernel for {dtype}"
    return f"compiled kernel {lib._name}" if isinstance(lib, ctypes.CDLL) else f"torch loop ({lib})"


def engine(block, activation, dtype: torch.dtype) -> str:
    """"compiled" when the compiled kernel serves the held-weight, no-grad CPU passes of ``block`` (a name of
    ``reslimit.BLOCKS`` or a Block) with ``activation`` (as given to ScaledResNet: a name or an Activation; None:
    a Block's own, or the named block's default) in ``dtype``; else "torch". Served: a block whose ``kernel`` is
    set (res-1, res-2, res-3) with an activation it takes (res-3: "relu" only) whose ``kernel`` is set too ("relu",
    "tanh", "identity", "leaky_relu:<slope>" of a slope > 0), with the native engine enabled and the kernel for
    ``dtype`` built and verified (built here on first use). Streamed weights, autograd, other devices and
    callables as activations take the torch loop regardless (autograd: the explicit adjoint, in the kernel for
    the same blocks and activations). An unknown block name is a ValueError.
    """
    from .blocks import Block, get_activation, get_block  # blocks does not import this module

    kind = block if isinstance(block, Block) else get_block(block)  # a named block: with its default activation
    activation = kind.activation if activation is None else activation
    sigma = _activation(activation)
    takes = sigma is not None and (kind.activations is None or get_activation(activation).name in kind.activations)
    served = (kind.kernel is not None and takes and ENABLED and dtype in _CTYPES
              and isinstance(_library(dtype), ctypes.CDLL))
    return "compiled" if served else "torch"


def _activation(activation) -> tuple[int, float] | None:
    """native.c's (enum activation, slope) for ``activation`` (a name or an Activation); None if it has none."""
    from .blocks import Activation, get_activation  # blocks does not import this module

    if not isinstance(activation, (str, Activation)):
        return None  # a callable: the torch loop
    try:
        kernel = get_activation(activation).kernel
    except ValueError:
        return None
    return None if kernel is None else (_ACTIVATIONS[kernel[0]], kernel[1])


def run_pass(V: Tensor, W: Tensor | None, h0: Tensor, alpha, every: int = 1, states: bool = False,
             grad_output: Tensor | Callable[[Tensor], Tensor] | None = None, activation="relu"
             ) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Run x_{k+1} = x_k + alpha V_k g_k from h0 (E, n, d), states as rows, and its adjoint: g_k =
    sigma(W_k x_k), or sigma(x_k) for W None (res-1), sigma = ``activation`` (a name or an Activation that
    :func:`engine` serves; ReLU by default).

    ``alpha``: a float, or per-input scales of shape (E or 1, 1, n). With ``states``, returns the states
    h_k for k = 0, every, ..., L as (T, E, n, d); with ``grad_output`` = p_L (E, n, d), or a function
    h_L -> p_L, the backward states p_k for the same k. Returns (h_L, states or None, p or None). No autograd.
    A tensor p_L lets each member run forward and back at once, its cache of g_k small enough to stay in the
    CPU's cache; a function needs every member's h_L first, so every member's cache is kept.
    """
    fused = isinstance(grad_output, Tensor)
    run = _Pass(V, W, h0, alpha, 0 if grad_output is None else 1, kept=grad_output is not None and not fused,
                activation=activation)
    last = -(-run.L // every)  # the index of h_L among the recorded k = 0, every, ..., L
    x = run.columns(h0)
    xrec = h0.new_empty(last + 1, *x.shape) if states else None
    prec = None if grad_output is None else h0.new_empty(last + 1, *x.shape)
    if xrec is not None:
        xrec[0] = x
    if grad_output is None:
        run.launch(x, None, True, xrec, None, every, last)
        return run.rows(x), run.rows(xrec), None
    if not fused:
        run.launch(x, None, True, xrec, None, every, last)
    p = run.columns(grad_output if fused else grad_output(run.rows(x)))
    prec[last] = p  # p_L; the kernel runs p back to p_0 in place
    run.launch(x, p, fused, xrec, prec, every, last)
    return run.rows(x), run.rows(xrec), run.rows(prec)


def run_gradients(V: Tensor, W: Tensor | None, h0: Tensor, alpha, weights: bool = True, activation="relu"
                  ) -> tuple[Tensor, Callable[[Tensor], tuple[Tensor, Tensor | None, Tensor | None]]]:
    """The forward pass of :func:`run_pass` keeping what the gradients need; returns (h_L, backward).

    ``backward(p_L)``, for p_L (E, n, d) as rows, runs the adjoint and returns (p_0, dV, dW), with, for the
    weights V (L, E, d, M) and W (L, E, M, d) when ``weights`` (else None, and only g_k is kept: L x E x M x n
    numbers, not L x E x (M + d) x n)

        dV_k = sum_n alpha_n p_{k+1,n} g_{k,n}^T,   dW_k = sum_n alpha_n q_{k,n} x_{k,n}^T,

    g_k = sigma(W_k x_k), q_k = sigma'(g_k) * (V_k^T p_{k+1}), added up in the same pass as p_k; for W None
    (res-1, g_k = sigma(x_k)) dV alone, dW None, and only g_k is kept. A thread whose
    units cover whole ensemble members adds into dV, dW directly; one sharing a member with another thread
    (fewer members than threads) into a buffer of its own, summed here. ``backward`` may be called again. The
    caches are taken from a pool of this module's and given back when the last reference to ``backward`` goes,
    so that the next step reuses memory already mapped instead of page-faulting 2 L d n numbers afresh.
    """
    res1 = W is None
    run = _Pass(V, W, h0, alpha, 2 if weights and not res1 else 1, kept=True, activation=activation)
    parts = 1 if res1 else 2  # dV (and dW)
    x = run.columns(h0)
    run.launch(x, None, True)

    def backward(pL: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        p = run.columns(pL)
        if not weights:
            run.launch(x, p, False)
            return run.rows(p), None, None
        dV, dW = torch.empty_like(V), None if res1 else torch.empty_like(W)  # each member written first, then added to
        outs = (dV,) if res1 else (dV, dW)
        # fewer members than threads: every thread adds up into a buffer of its own (already mapped), and the
        # sums below write dV, dW (first touched there, on torch's threads, not in one kernel thread: balanced)
        alone = run.E < run.workers
        targets, shared = [], []
        for u0, u1 in run.ranges:
            e0, e1 = u0 // run.blocks, -(-u1 // run.blocks)
            if u0 == e0 * run.blocks and not alone:  # starts at a member's first unit: writes its members first
                targets.append((dV[0, e0], None if res1 else dW[0, e0], e0, run.E))
            else:  # its own buffer of members e0 .. e1 - 1, summed below: dV's part (d x M), then dW's (M x d)
                buffer = _borrow(parts * run.L * (e1 - e0) * run.d * run.M, V)
                views = [part.view(run.L, e1 - e0, *out.shape[-2:]) for part, out in zip(buffer.chunk(parts), outs)]
                shared.append((e0, e1, buffer, views))
                targets.append((views[0], None if res1 else views[1], e0, e1 - e0))
        run.launch(x, p, False, grads=targets)
        written = {e for u0, u1 in run.ranges if u0 % run.blocks == 0 and not alone
                   for e in range(u0 // run.blocks, -(-u1 // run.blocks))}
        pending: dict[int, Tensor] = {}  # a member's only contribution so far, from a buffer
        for e0, e1, _, views in shared:  # in the threads' order
            for e in range(e0, e1):
                part = [view[:, e - e0] for view in views]
                if e in written:
                    for j, out in enumerate(outs):
                        out[:, e] += part[j]
                elif e in pending:
                    first = pending.pop(e)
                    for j, out in enumerate(outs):
                        torch.add(first[j], part[j], out=out[:, e])
                    written.add(e)
                else:
                    pending[e] = part
        for e, part in pending.items():
            for j, out in enumerate(outs):
                out[:, e] = part[j]
        _release([buffer for _, _, buffer, _ in shared])
        return run.rows(p), dV, dW

    return run.rows(x), backward


relu_pass, relu_gradients = run_pass, run_gradients  # the names of earlier versions, ReLU by default


class _Pass:
    """One pass's layout for the kernel: the states as columns padded to whole tiles, the units (one
    member's block of NB columns) split evenly over the threads, and each thread's cache and scratch.

    ``per_layer``: what the cache keeps per layer: 0 (no adjoint), 1 (g_k, M rows) or 2 (g_k and x_k, M + d rows,
    for the weights' gradients of res-2, res-3), M the hidden width (V is d x M; M = d for res-1).
    ``activation``: sigma, a name or an Activation that :func:`engine` serves.
    ``kept``: every unit keeps its cache (the adjoint runs after the whole forward); else the
    units of a thread take turns in one (each unit runs forward and straight back). A thread's scratch, after
    its cache, holds (M + max(d, M) + CB) NB numbers (``scratch`` of native.c: M NB + NB DP).
    """

    def __init__(self, V: Tensor, W: Tensor | None, h0: Tensor, alpha, per_layer: int, kept: bool, activation):
        self.V, self.W = V, W
        self.activation = _activation(activation)
        if self.activation is None:
            raise ValueError(f"the compiled kernel has no activation {activation!r}: see native.engine")
        self.L, self.E, self.d, self.M = V.shape[0], V.shape[1], V.shape[-2], V.shape[-1]
        self.n, threads = h0.shape[1], torch.get_num_threads()
        self.lib = lib = _library(V.dtype)
        cb = lib.reslimit_tile_columns()  # N and NB must be multiples of it
        self.blocks = min(threads // math.gcd(self.E, threads), -(-self.n // cb))  # column blocks per member
        self.width = cb * -(-self.n // (cb * self.blocks))  # NB: columns per unit, a multiple of the tile
        self.padded = self.blocks * self.width  # zero columns stay zero forward and backward: padding is exact
        self.scales = h0.new_zeros(alpha.shape[0] if isinstance(alpha, Tensor) else 1, self.padded)
        self.scales[:, :self.n] = alpha.reshape(-1, self.n) if isinstance(alpha, Tensor) else alpha
        units = self.E * self.blocks
        self.workers = min(threads, units)
        self.ranges = [(t * units // self.workers, (t + 1) * units // self.workers) for t in range(self.workers)]
        self.per_layer = max(per_layer, 1)
        one = self.L * (self.M + self.d * (per_layer - 1)) * self.width if per_layer else 0  # one unit's cache
        self.unit_cache = one if kept else 0
        self.cache_size = max(self.unit_cache * (b - a) for a, b in self.ranges) or one
        # one buffer per thread, from the pool (memory already touched: first-touch page faults cost as much as the
        # kernel's forward), given back to it when this pass is garbage
        dp = max(self.d, self.M) + cb  # the transposed operands' row stride, at least max(d, M) rounded up to a vector
        self.scratch = [_borrow(self.cache_size + (self.M + dp) * self.width, h0) for _ in range(self.workers)]
        weakref.finalize(self, _release, self.scratch)

    def columns(self, rows: Tensor) -> Tensor:
        out = rows.new_zeros(self.E, self.d, self.padded)
        out[..., :self.n] = rows.mT
        return out

    def rows(self, t: Tensor | None) -> Tensor | None:
        return None if t is None else t[..., :self.n].mT.contiguous()

    def launch(self, x: Tensor, p: Tensor | None, forward: bool, xrec: Tensor | None = None,
               prec: Tensor | None = None, every: int = 1, last: int = 0, grads: list | None = None) -> None:
        """The kernel on every thread: x forward (``forward``) and/or p back (``p``), recording x_k in
        ``xrec`` and p_k in ``prec``; ``grads``: each thread's (dV, dW, first member, members) to add to."""
        workers, P, I = self.workers, ctypes.c_void_p, ctypes.c_int  # noqa: E741
        grads = grads or [(None, None, 0, 0)] * workers
        per_thread = ((I * (2 * workers))(*(u for r in self.ranges for u in r)),
                      (P * workers)(*map(_ptr, self.scratch)), self.cache_size,
                      (P * workers)(*(_ptr(g[0]) for g in grads)), (P * workers)(*(_ptr(g[1]) for g in grads)),
                      (I * workers)(*(g[2] for g in grads)), (I * workers)(*(g[3] for g in grads)))
        shared = (self.L, self.E, self.d, self.M, self.padded, self.width, _ptr(self.V), _ptr(self.W), _ptr(x),
                  _ptr(p),
                  forward, self.unit_cache, _ptr(self.scales), self.padded if self.scales.shape[0] > 1 else 0,
                  _ptr(xrec if forward else None), _ptr(prec), every, last, self.per_layer, *self.activation)
        if self.lib.reslimit_openmp():  # one parallel region on torch's own OpenMP threads
            self.lib.reslimit_pass_threads(0, workers, *per_thread, *shared)
        else:  # Python's threads, each running one of the kernel's
            _parallel(lambda t: self.lib.reslimit_pass_threads(t, t + 1, *per_thread, *shared), workers)


_pool: dict[tuple[torch.dtype, int], list[Tensor]] = {}  # free buffers by dtype and size
_POOL_BYTES = 1 << 30  # at most this much held free
_pool_lock = threading.Lock()


def _borrow(numel: int, like: Tensor) -> Tensor:
    """A 1-d buffer of ``numel`` numbers of ``like``'s dtype, its contents undefined: a free one of the pool's if
    any (only the borrower writes it until :func:`_release`), else a new one."""
    with _pool_lock:
        free = _pool.get((like.dtype, numel))
        if free:
            return free.pop()
    return like.new_empty(numel, device="cpu")


def _release(buffers: list[Tensor]) -> None:
    """Give ``buffers`` (from :func:`_borrow`, no longer used) back to the pool, as long as it holds under
    _POOL_BYTES; the rest are freed."""
    with _pool_lock:
        held = sum(t.numel() * t.element_size() for free in _pool.values() for t in free)
        for t in buffers:
            t = t._base if t._base is not None else t
            if held + t.numel() * t.element_size() <= _POOL_BYTES:
                _pool.setdefault((t.dtype, t.numel()), []).append(t)
                held += t.numel() * t.element_size()


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _parallel(work, workers: int) -> None:
    """work(0), ..., work(workers - 1), each on its own thread (ctypes releases the GIL during the call);
    an error in any of them is raised here."""
    errors: list[BaseException] = []

    def guarded(t: int) -> None:
        try:
            work(t)
        except BaseException as error:  # noqa: BLE001 - re-raised below, in the caller's thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in range(1, workers)]
    for thread in threads:
        thread.start()
    guarded(0)
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _library(dtype: torch.dtype) -> ctypes.CDLL | str:
    with _lock:
        if dtype not in _libraries:
            try:
                _libraries[dtype] = _kernel(_CTYPES[dtype])
            except (OSError, subprocess.SubprocessError) as error:
                _libraries[dtype] = f"could not build the kernel: {error}"
        return _libraries[dtype]


def _kernel(ctype: str) -> ctypes.CDLL | str:
    """The kernel for ``ctype`` from the cache folder, loaded only once it verifies; else rebuilt, once.

    A cached file is opened only when its sha256 equals the digest recorded beside it at build time (a
    truncated or overwritten library is never handed to dlopen, where it can kill the process with SIGBUS)
    and kept only when it has every symbol used here. One that fails either check is rebuilt; a rebuild that
    fails too returns why, and the torch loop serves the pass.
    """
    compiler, flags, name = _recipe(ctype)
    path = _cache_folder() / name
    damage = None
    if path.exists() or _digest_file(path).exists():
        lib = _verified(path)
        if isinstance(lib, ctypes.CDLL):
            return lib
        damage = f"rebuilding {path.name}, which did not verify: {lib}"
    try:
        _build(compiler, flags, path)
    except (OSError, subprocess.SubprocessError) as error:
        raise OSError(f"{error}{f' ({damage})' if damage else ''}") from error
    lib = _verified(path)
    return lib if isinstance(lib, ctypes.CDLL) else f"the rebuilt kernel {path} does not verify: {lib}" + (
        f" ({damage})" if damage else "")


def _recipe(ctype: str) -> tuple[str, list[str], str]:
    """(the compiler, its flags, the library's file name ``kernel_<ctype>_<key>.so``) of the kernel for ``ctype``:
    the key hashes the sources, the compiler, the flags and the CPU."""
    compiler = os.environ.get("CC", "cc")
    flags = ["-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", f"-DT={ctype}"]
    sources = b"".join(source.read_bytes() for source in _SOURCES)
    key = hashlib.sha256(sources + " ".join([compiler, *flags, _cpu()]).encode()).hexdigest()[:16]
    return compiler, flags, f"kernel_{ctype}_{key}.so"


def _digest_file(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _verified(path: Path) -> ctypes.CDLL | str:
    """The library at ``path`` once loaded, if it is this user's own and private (:func:`_untrusted`), its bytes
    match the recorded sha256 and it has every symbol the Python side calls; else why not (it is not opened at
    all unless it is private and the digest matches)."""
    try:
        distrust = _untrusted(path)
        if distrust:
            return distrust
        recorded = _digest_file(path).read_text().split()
        actual = _sha256(path)
    except (OSError, UnicodeDecodeError) as error:
        return f"cannot be verified ({type(error).__name__}: {error})"
    if not recorded or recorded[0] != actual:
        return f"its sha256 {actual[:16]}... is not the recorded {(recorded or ['(none)'])[0][:16]}..."
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as error:
        return f"it cannot be loaded: {error}"
    missing = [name for name in _SYMBOLS if not hasattr(lib, name)]
    if missing:
        _unload(lib)  # else dlopen of the same path would hand back this library after the rebuild
        return f"it lacks {', '.join(missing)}"
    lib = _typed(lib)
    words = (ctypes.c_float * 4)()
    lib.reslimit_random(words, (ctypes.c_uint64 * 1)(ARS_KNOWN[0]), 1, 4, 4 * ARS_KNOWN[1], 0, 1.0, 1)
    if bytes(words) != ARS_KNOWN[2]:  # a compiler or CPU path that breaks the generator: its numbers are wrong
        _unload(lib)
        return f"its generator gives {bytes(words).hex()}, not ARS-7's known answer {ARS_KNOWN[2].hex()}"
    return lib


def _typed(lib: ctypes.CDLL) -> ctypes.CDLL:
    """``lib`` with the argument and result types of every symbol the Python side calls."""
    P, I = ctypes.c_void_p, ctypes.c_int  # noqa: E741
    S = ctypes.c_size_t
    lib.reslimit_pass_threads.argtypes = ([I, I, P, P, S, P, P, P, P] + [I] * 6 + [P] * 4 +
                                          [I, S, P, I, P, P, I, I, I, I, ctypes.c_double])
    lib.reslimit_pass_threads.restype = None
    lib.reslimit_random.argtypes = [P, P] + [ctypes.c_int64] * 3 + [I, ctypes.c_float, I]
    lib.reslimit_random.restype = None
    for name in ("reslimit_tile_columns", "reslimit_openmp"):
        getattr(lib, name).argtypes, getattr(lib, name).restype = [], I
    return lib


def _unload(lib: ctypes.CDLL) -> None:
    try:
        import _ctypes

        (getattr(_ctypes, "dlclose", None) or _ctypes.FreeLibrary)(lib._handle)
    except (ImportError, AttributeError, OSError):
        pass


def _build(compiler: str, flags: list[str], path: Path) -> None:
    """Compile native.c and random.c into ``path`` with its sha256 beside it (``path``.sha256, as sha256sum writes it).

    Both are written under a name of this process's own, flushed to disk, then renamed into place: a
    concurrent process sees the old file or the complete new one, never part of one, and two processes
    building at once each put a complete pair in place (a mismatch between them is rebuilt on its next load).
    """
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".build-") as tmp:
        built, digest = Path(tmp) / path.name, Path(tmp) / _digest_file(path).name
        # some compilers lack -march=native or OpenMP (the threads are then Python's: _Pass.launch)
        for attempt in [flags] + [[f for f in flags if f not in drop] for drop in
                                  ({"-march=native"}, {"-fopenmp"}, {"-march=native", "-fopenmp"})]:
            result = subprocess.run([compiler, *attempt, *map(str, _SOURCES), "-o", str(built)], capture_output=True,
                                    text=True, timeout=120)
            if result.returncode == 0:
                break
        else:
            raise OSError(f"{compiler} failed: {result.stderr.strip()[-500:]}")
        os.chmod(built, 0o755)  # the compiler's mode under the user's umask may let the group write it
        _fsync(built)
        digest.write_text(f"{_sha256(built)}  {path.name}\n")
        _fsync(digest)
        os.replace(built, path)
        os.replace(digest, _digest_file(path))
        _fsync(path.parent)


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # a folder cannot be opened on some systems
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _cache_folder() -> Path:
    """$RESLIMIT_CACHE, else ~/.cache/reslimit, else (a home that cannot be written) reslimit-<uid> in the temp
    folder: the first that can be made (mode 0o700) and written, if it is this user's own and private
    (:func:`_untrusted`); OSError saying why of each otherwise (the torch loop then serves)."""
    if os.environ.get("RESLIMIT_CACHE"):
        folders = [Path(os.environ["RESLIMIT_CACHE"])]
    else:
        user = _uid()
        folders = [Path.home() / ".cache" / "reslimit",
                   Path(tempfile.gettempdir()) / f"reslimit-{'user' if user is None else user}"]
    why = []
    for folder in folders:
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            why.append(f"{folder} cannot be made ({error.strerror})")
            continue
        distrust = _untrusted(folder) or (None if os.access(folder, os.W_OK) else f"{folder} cannot be written")
        if distrust is None:
            return folder
        why.append(distrust)
    raise OSError(f"no private folder for the compiled kernel: {'; '.join(why)}")


def _uid() -> int | None:
    return os.getuid() if hasattr(os, "getuid") else None  # None: a system without POSIX owners


def _untrusted(path: Path) -> str | None:
    """Why ``path`` (the cache folder or a library in it) may hold a stranger's code: it (lstat: a link itself) or
    what it leads to (stat) belongs to another user, or may be written by the group or anyone (a link's own mode
    aside); None when both are this user's own and private."""
    uid = _uid()
    for where, info in (("", os.lstat(path)), (" (where its link leads)", os.stat(path))):
        if uid is not None and info.st_uid != uid:
            return (f"{path}{where} belongs to uid {info.st_uid}, not to this user (uid {uid}): refused, as it "
                    f"may hold another's code; set RESLIMIT_CACHE to a folder of your own")
        if info.st_mode & 0o022 and not stat.S_ISLNK(info.st_mode):
            return (f"{path}{where} may be written by others (mode {stat.S_IMODE(info.st_mode):o}): refused, as it "
                    f"may hold another's code; chmod go-w it, or set RESLIMIT_CACHE to a private folder")
    return None


def _cpu() -> str:
    """What -march=native compiles for: the kernel built on one CPU must not run on another."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        flags = ""
    return f"{platform.machine()} {platform.processor()} {flags}"

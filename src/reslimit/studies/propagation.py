"""Variance propagation at initialization: a plain MLP beside a scaled ResNet, per activation and scheme.

Networks (square layers of width n, input x^0 = h_0 with i.i.d. N(0, 1) entries):

    mlp:     z^l = W^l x^{l-1},  x^l = f(z^l),                         l = 1..L
    resnet:  h_k = h_{k-1} + alpha_L V_k f(W_k h_{k-1}),  alpha_L = L^-beta,   k = 1..L   (block res-2)

W^l, W_k, V_k have i.i.d. entries of the scheme's variance var = :func:`reslimit.init.variance` (scheme, n, n)
(S = n var: 1/3 standard, 1 lecun and glorot, 2 he), drawn from :class:`reslimit.paths.IID` with ``init=scheme``
(the MLP's W^l is the ResNet's W_l; one draw of unit-variance matrices serves every scheme and activation, so
they are compared on common random numbers). The gradients are those of a loss with dC/dx^L = dC/dh_L = g,
g i.i.d. N(0, 1): the MLP's delta^l = dC/dz^l = f'(z^l) (W^{l+1})^T delta^{l+1} (l = 1..L, delta^L = f'(z^L) g;
at l = 0 the gradient of the input, (W^1)^T delta^1), the ResNet's p_k = dC/dh_k.

Theory (the mean field of an infinitely wide network, m^l = E[(x^l)^2] per entry, xi ~ N(0, 1)):

    mlp:     q^l = S m^{l-1},   m^l = E f(sqrt(q^l) xi)^2,
             E[(delta^l)^2] = S E f'(sqrt(q^l) xi)^2 E[(delta^{l+1})^2]
    resnet:  Q_k = Q_{k-1} + alpha^2 S E f(sqrt(S Q_{k-1}) xi)^2,
             P_{k-1} = P_k (1 + alpha^2 S^2 E f'(sqrt(S Q_{k-1}) xi)^2)

(expectations by Simpson's rule on each half-line). For ReLU and leaky ReLU of slope a, E f(z)^2 = kappa Var z with
kappa = (1 + a^2)/2, and the forward recursions are exact identities in expectation at any width (given x^{l-1},
z^l is exactly Gaussian): E[(x^l)^2] = (S kappa)^l E[(x^0)^2] for the MLP, so He (S = 2) with ReLU (kappa = 1/2)
keeps E[x^2] constant (the factor 1/2 of ReLU compensated) while Glorot on square layers (S = 1) halves it at
every layer; and E||h_L||^2 / ||h_0||^2 = (1 + alpha^2 S^2 kappa)^L for the ResNet, which at beta = 1/2 tends to
exp(S^2 kappa): neither 0 nor infinity, whatever the scheme.

The course's bound on the backward pass: with gamma = max f' (1/4 for the sigmoid, 1 for tanh and ReLU) and
u^l the back-propagation of the same network with every f' replaced by 1 (u^L = g, u^l = (W^{l+1})^T u^{l+1}),

    ||delta^l|| <= gamma^(L - l + 1) ||u^l||,   l = 1..L

(the course writes it neuron by neuron with the absolute value outside the nested sums of the weights; the
factors f'(z) in (0, gamma] are what the bound takes out). The study measures, per layer, the largest ratio
||delta^l|| / (gamma^(L-l+1) ||u^l||) over samples. At l = L it is ||f'(z^L) g|| / (gamma ||g||) <= 1 always;
below, it is not a theorem for every draw of the weights (diagonal factors do not commute with W), but with
i.i.d. weights it is about (E f'(z)^2)^(1/2) / gamma per layer, under 1 unless f' is constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import _checks, _memory, init, store
from .._rng import normal, substream
from ..paths import IID
from .protocol import Kind, claimed, figures
from .sweep import one_thread

KIND = Kind("propagation", "`reslimit propagation --out DIR` (reslimit.studies.propagation.propagation)",
            plot=lambda rows, params: figure(rows, params), summary=lambda rows, params: summary(rows, params),
            files=figures("propagation"))
NETWORKS = ("mlp", "resnet")
ACTIVATIONS = ("tanh", "relu", "leaky_relu:0.2", "sigmoid")
INITS = ("standard", "glorot", "he")
DISTS = {"normal": "gaussian", "uniform": "uniform"}  # reslimit.init's laws, as IID names them
# Simpson's rule on [0, 10] standard deviations, for each half-line: the activations are smooth on either side of 0
# (a kink at 0, as ReLU's, would cost Gauss-Hermite quadrature its accuracy); relative error about 1e-11 here.
_NODES = np.linspace(0.0, 10.0, 2001)
_WEIGHTS = np.r_[1.0, np.tile([4.0, 2.0], 999), 4.0, 1.0] * (_NODES[1] / 3) * np.exp(-_NODES**2 / 2) / math.sqrt(
    2 * math.pi)


def activation(name: str):
    """(f, f', gamma = max f') of an activation name: identity, tanh, sigmoid, relu, leaky_relu[:slope]."""
    init.kappa(name)  # the ValueError naming what is allowed
    if name == "identity":
        return (lambda z: z), torch.ones_like, 1.0
    if name == "tanh":
        return torch.tanh, (lambda z: 1 - torch.tanh(z) ** 2), 1.0
    if name == "sigmoid":
        return torch.sigmoid, (lambda z: torch.sigmoid(z) * (1 - torch.sigmoid(z))), 0.25
    slope = 0.0 if name == "relu" else 0.01 if name == "leaky_relu" else float(name.split(":", 1)[1])
    return (lambda z: torch.where(z > 0, z, slope * z)), (lambda z: torch.where(z > 0, 1.0, slope).to(z)), \
        max(1.0, abs(slope))


def _expect(fn, q: float) -> float:
    """E fn(sqrt(q) xi), xi ~ N(0, 1): Simpson's rule on each half-line."""
    z = torch.as_tensor(math.sqrt(q) * np.maximum(_NODES, 1e-200), dtype=torch.float64)  # 0+: one-sided limits
    return float(np.dot(_WEIGHTS, (fn(z) + fn(-z)).numpy()))


def mean_field(network: str, name: str, S: float, depth: int, alpha: float) -> dict:
    """The module's mean-field recursions: per layer 0..L the std of the activations (x^l or h_k), and the root
    mean square of the gradients (delta^l or p_k), for E[(x^0)^2] = E g^2 = 1."""
    f, fp, _ = activation(name)
    sq, dsq = (lambda z: f(z) ** 2), (lambda z: fp(z) ** 2)
    std, ms = [1.0], [1.0]
    slopes = [math.nan]  # E f'(z^l)^2 (mlp), E f'(z_k)^2 (resnet, z_k = W_k h_{k-1})
    for _ in range(depth):
        q = S * ms[-1]
        if network == "mlp":
            m = _expect(sq, q)
            ms.append(m)
            std.append(math.sqrt(max(m - _expect(f, q) ** 2, 0.0)))
        else:
            ms.append(ms[-1] + alpha**2 * S * _expect(sq, q))
            std.append(math.sqrt(ms[-1]))
        slopes.append(_expect(dsq, q))
    grad = [0.0] * (depth + 1)
    if network == "mlp":
        grad[depth] = slopes[depth]
        for layer in range(depth - 1, 0, -1):
            grad[layer] = S * slopes[layer] * grad[layer + 1]
        grad[0] = S * grad[1]
    else:
        grad[depth] = 1.0
        for k in range(depth, 0, -1):
            grad[k - 1] = grad[k] * (1 + alpha**2 * S**2 * slopes[k])
    return {"act_std": std, "act_ms": ms, "grad_rms": [math.sqrt(g) for g in grad]}


@dataclass
class Propagation:
    """What :func:`propagation` measured. Arrays are indexed [network, activation, init, ...] in the order of
    ``params`` (networks, activations, inits), then the ensemble member e and the layer l = 0..L.

    Attributes:
        params: the study's parameters.
        act_ms: (N, A, I, E, L+1) mean over neurons and samples of (x^l)^2 (mlp) or h_k^2 (resnet), per network.
        act_std: (N, A, I, L+1) the std of the activations' entries over neurons, samples and networks.
        grad_ms: (N, A, I, E, L+1) mean of (delta^l)^2 (mlp; the input's gradient at l = 0) or p_k^2 (resnet).
        hidden_ratio, grad_ratio: (N, A, I, E x samples) ||x^L||/||x^0|| or ||h_L||/||h_0||, and ||g_0||/||g_L||
            (the gradient at the input over the one at the output), per sample.
        bound_ratio: (A, I, L+1) the mlp's largest ||delta^l|| / (gamma^(L-l+1) ||u^l||) over samples (NaN at 0).
        theory: {(network, activation, init): :func:`mean_field`}.
    """

    params: dict
    act_ms: np.ndarray
    act_std: np.ndarray
    grad_ms: np.ndarray
    hidden_ratio: np.ndarray
    grad_ratio: np.ndarray
    bound_ratio: np.ndarray
    theory: dict = field(default_factory=dict)

    def index(self, network: str, name: str, scheme: str) -> tuple[int, int, int]:
        """The indices of (network, activation, init) in the arrays."""
        p = self.params
        return p["networks"].index(network), p["activations"].index(name), p["inits"].index(init.scheme_name(scheme))

    def rows(self) -> list[dict]:
        """Tidy rows, one per (network, activation, init, layer): measured beside the mean field."""
        p, out = self.params, []
        for (n, a, i), _ in np.ndenumerate(self.act_std[..., 0]):
            key = (p["networks"][n], p["activations"][a], p["inits"][i])
            th = self.theory[key]
            for layer in range(p["depth"] + 1):
                out.append({"network": key[0], "activation": key[1], "init": key[2], "layer": layer,
                            "act_std": float(self.act_std[n, a, i, layer]),
                            "act_ms": float(self.act_ms[n, a, i, :, layer].mean()),
                            "grad_rms": float(math.sqrt(self.grad_ms[n, a, i, :, layer].mean())),
                            "act_std_theory": th["act_std"][layer], "act_ms_theory": th["act_ms"][layer],
                            "grad_rms_theory": th["grad_rms"][layer],
                            "bound_ratio": float(self.bound_ratio[a, i, layer]) if key[0] == "mlp" else math.nan})
        return out

    def plot(self, out=None):
        """Per-layer std of the activations and rms of the gradients against depth, theory dashed:
        :func:`reslimit.plots.propagation_figure`; saved in ``out`` as propagation.png and .pdf when given."""
        return figure(self.rows(), self.params, out)


def figure(rows: list[dict], params: dict, out=None):
    """:func:`reslimit.plots.propagation_figure` of the tidy rows (:meth:`Propagation.rows`, or a folder's)."""
    from ..plots import propagation_figure

    return propagation_figure(rows, params, out)


def summary(rows: list[dict], params: dict) -> dict:
    """Per "network activation init": the std of the activations at the last layer and the rms gradient at the
    input, each beside the mean field's (what ``reslimit propagation`` prints)."""
    depth = params["depth"]
    return {f"{last['network']} {last['activation']} {last['init']}": {
        "act_std": last["act_std"], "act_std_theory": last["act_std_theory"], "grad_rms": first["grad_rms"],
        "grad_rms_theory": first["grad_rms_theory"]} for first, last in zip(rows[::depth + 1], rows[depth::depth + 1])}


def propagation(depth: int = 100, width: int = 500, activations=ACTIVATIONS, inits=INITS, networks=NETWORKS,
                beta: float = 0.5, ensemble: int = 8, samples: int = 8, dist: str = "normal", seed: int = 0,
                out=None, progress: bool = False) -> Propagation:
    """Run every (network, activation, init) at initialization; batched over networks and samples, looped over depth.

    Args:
        depth: L. width: n (the course's experiment: L = 10 to 100, n = 500).
        activations: names of :func:`activation`. inits: schemes of :mod:`reslimit.init`. networks: "mlp", "resnet".
        beta: alpha_L = L^-beta of the ResNet. ensemble: independent weight draws E. samples: inputs per draw.
        dist: "normal" or "uniform" (the schemes' laws). seed: of the paths (sub-streams "inner", "outer") and of
            the inputs and output gradients ("inputs", "targets").
        out: a folder to write results.csv (:meth:`Propagation.rows`), manifest.json and propagation.png, or None.
        progress: show a progress bar over the layers of the passes (2 x networks x depth of them).

    Refused before any work (a ValueError naming depth): the pre-activations kept for the backward pass beyond the
    memory, or more than 10^7 steps of the loops over depth (the passes' layers and the mean field's recursions,
    depth x networks x (2 + activations x inits); see :mod:`reslimit._memory`).

    Computed in float64 (Glorot and standard with ReLU shrink E[x^2] by 2 and 6 a layer: 6^-100 ~ 1e-78).
    """
    depth, width = _checks.positive_int("depth", depth), _checks.positive_int("width", width)
    ensemble, samples = _checks.positive_int("ensemble", ensemble, 2), _checks.positive_int("samples", samples)
    beta, seed = _checks.real("beta", beta, low=0.0), _checks.seed("seed", seed)
    dist = _checks.choice("dist", dist, tuple(DISTS))
    activations, inits, networks = (_names("activations", activations), _names("inits", inits),
                                    _names("networks", networks))
    for name in activations:
        try:
            activation(name)
        except ValueError:
            raise ValueError(f"activations must be names among {', '.join(repr(a) for a in init.ACTIVATIONS)} "
                             f"({_checks.SLOPE}); got {name!r}") from None
    for name in inits:
        _checks.choice("inits", name, init.SCHEMES + tuple(init.ALIASES))
    inits = [init.scheme_name(s) for s in inits]
    for name in networks:
        _checks.choice("networks", name, NETWORKS)
    if len(set(inits)) < len(inits) or len(set(activations)) < len(activations) or len(set(networks)) < len(networks):
        raise ValueError("activations, inits and networks must not repeat a name (xavier is glorot, kaiming he)")
    params = dict(depth=depth, width=width, activations=list(activations), inits=inits, networks=list(networks),
                  beta=beta, ensemble=ensemble, samples=samples, dist=dist, seed=seed)
    combos = [(a, s) for a in activations for s in inits]
    cols = len(combos) * samples
    _memory.require(8 * (depth + 4) * ensemble * width * cols * (2 if "resnet" in networks else 1),
                    "the pre-activations of every layer for the backward pass (depth x ensemble x width x "
                    "activations x inits x samples x 8 bytes)", f"depth={depth}, width={width}",
                    "use a smaller depth, width, ensemble or samples, or fewer activations or inits", "cpu")
    _memory.require_steps(depth * len(networks) * (2 + len(combos)), "the loops over depth (a layer of a pass, or "
                          "of a mean-field recursion, a step)", f"depth={depth}",
                          "use a smaller depth, or fewer networks, activations or inits")
    if out is None:
        return _measure(params, progress)
    with claimed(out, KIND, params) as folder:  # refused before anything is computed
        try:
            result = _measure(params, progress)
        except KeyboardInterrupt as err:  # nothing is kept: the files are written once every layer is done
            raise KeyboardInterrupt(f"interrupted: nothing written in {folder} (its files come once every pass "
                                    f"is done); rerun the same command") from err
        store.write_rows(folder / "results.csv", result.rows())
        store.write_manifest(folder, params, study=KIND, figure="propagation.png")
        result.plot(folder)
    return result


def _measure(params: dict, progress: bool) -> Propagation:
    """The :class:`Propagation` of :func:`propagation`'s checked ``params``; ``progress``: a bar over the layers."""
    depth, width, ensemble, samples, beta, seed = (params[k] for k in ("depth", "width", "ensemble", "samples",
                                                                       "beta", "seed"))
    activations, inits, networks, dist = params["activations"], params["inits"], params["networks"], params["dist"]
    combos = [(a, s) for a in activations for s in inits]
    x0 = normal((ensemble, width, samples), seed, "inputs")
    g = normal((ensemble, width, samples), seed, "targets")
    alpha = depth ** -beta
    shape = (len(networks), len(activations), len(inits))
    act_ms = np.zeros((*shape, ensemble, depth + 1))
    act_std = np.zeros((*shape, depth + 1))
    grad_ms = np.zeros_like(act_ms)
    hidden, grad = np.zeros((*shape, ensemble * samples)), np.zeros((*shape, ensemble * samples))
    bound = np.full((len(activations), len(inits), depth + 1), math.nan)
    paths = {name: IID(width, ensemble, dist=DISTS[dist], seed=substream(seed, name)) for name in ("inner", "outer")}
    scale = torch.tensor([init.path_std(s, width) for _, s in combos], dtype=torch.float64)  # sqrt(n var)
    with tqdm(total=2 * len(networks) * depth, desc="propagation", unit="layer", disable=not progress) as bar:
        for n, network in enumerate(networks):
            run = _mlp if network == "mlp" else _resnet
            with one_thread():  # small matrices: OpenMP's workers spin against each other on a loaded machine
                ms, mean, gms, hid, gr, br = run(paths, combos, scale, x0, g, depth, alpha, bar.update)
            for c, (a, s) in enumerate(combos):
                i, j = activations.index(a), inits.index(s)
                act_ms[n, i, j], grad_ms[n, i, j] = ms[c], gms[c]
                act_std[n, i, j] = np.sqrt(np.maximum(ms[c].mean(0) - mean[c].mean(0) ** 2, 0.0))
                hidden[n, i, j], grad[n, i, j] = hid[c], gr[c]
                if br is not None:
                    bound[i, j] = br[c]
    theory = {(net, a, s): mean_field(net, a, init.path_std(s, width) ** 2, depth, alpha)
              for net in networks for a in activations for s in inits}
    return Propagation(params, act_ms, act_std, grad_ms, hidden, grad, bound, theory)


def _names(argument: str, value) -> list[str]:
    """A non-empty list of names from a list or tuple, or one comma-separated string."""
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(v, str) and v for v in names):
        raise ValueError(f"{argument} must be a non-empty list of names or a comma-separated string; got {value!r}")
    return list(names)


def _layer(path: IID, depth: int, k: int) -> torch.Tensor:
    """Layer k (1..L) of the path at std 1, (E, n, n): entries of variance 1/n; a scheme's is std^2/n."""
    return path.weights(depth, k - 1, k)[0]


def _apply(z: torch.Tensor, combos, fn: int) -> torch.Tensor:
    """f (fn = 0) or f' (fn = 1) of each combo's activation on its columns of z, (E, n, combos, samples)."""
    return torch.stack([activation(a)[fn](z[:, :, c]) for c, (a, _) in enumerate(combos)], 2)


def _stats(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per combo and network: the mean of x^2 and of x over neurons and samples, (C, E) each."""
    return x.pow(2).mean((1, 3)).T.numpy(), x.mean((1, 3)).T.numpy()


def _start(combos, scale, x0, depth):
    """What both passes start from: the sizes E, n, B, C (combos), the paths' std sqrt(n var) as s (the layer is
    s Z / sqrt(n)), the input copied for every combo (E, n, C, B), and the per-layer statistics with layer 0's."""
    E, n, B = x0.shape
    C = len(combos)
    x = x0.unsqueeze(2).expand(E, n, C, B).clone()
    ms, mean = np.zeros((C, E, depth + 1)), np.zeros((C, E, depth + 1))
    ms[:, :, 0], mean[:, :, 0] = _stats(x)
    return E, n, B, C, scale.view(1, 1, C, 1), x, ms, mean


def _mlp(paths, combos, scale, x0, g, depth, alpha, tick):
    """The MLP's forward and backward passes for every combo at once; per-layer statistics (module docstring);
    ``tick()`` after each layer of each pass."""
    E, n, B, C, s, x, ms, mean = _start(combos, scale, x0, depth)
    pre = []
    for k in range(1, depth + 1):
        z = torch.matmul(_layer(paths["inner"], depth, k), x.view(E, n, C * B)).view(E, n, C, B).mul_(s)
        pre.append(z)
        x = _apply(z, combos, 0)
        ms[:, :, k], mean[:, :, k] = _stats(x)
        tick()
    log_gamma = torch.tensor([math.log(activation(a)[2]) for a, _ in combos], dtype=torch.float64).view(1, C)
    gms, bound = np.zeros((C, E, depth + 1)), np.full((C, depth + 1), math.nan)
    delta = _apply(pre[-1], combos, 1).mul_(g.unsqueeze(2))
    # u^l = s^(L-l) prod_{j>l} (Z_j/sqrt n)^T g, kept normalised: u and the log of its norm
    u, log_u = g.clone(), torch.zeros(E, B, dtype=torch.float64)
    for k in range(depth, 0, -1):
        gms[:, :, k] = delta.pow(2).mean((1, 3)).T.numpy()
        # log ||delta^k|| - (L - k + 1) log gamma - log ||u^k||, with ||u^k|| = s^(L-k) ||u|| exp(log_u)
        log_ratio = (delta.norm(dim=1).log() - (depth - k + 1) * log_gamma.view(1, C, 1)
                     - (depth - k) * s.view(1, C, 1).log() - (u.norm(dim=1).log() + log_u).unsqueeze(1))
        bound[:, k] = log_ratio.amax((0, 2)).exp().numpy()
        Z = _layer(paths["inner"], depth, k)
        back = torch.matmul(Z.mT, delta.reshape(E, n, C * B)).view(E, n, C, B).mul_(s)
        delta = back if k == 1 else back.mul_(_apply(pre[k - 2], combos, 1))
        u = torch.matmul(Z.mT, u)
        norm = u.norm(dim=1)
        u, log_u = u / norm.unsqueeze(1), log_u + norm.log()
        tick()
    gms[:, :, 0] = delta.pow(2).mean((1, 3)).T.numpy()
    hidden = (x.norm(dim=1) / x0.norm(dim=1).unsqueeze(1)).permute(1, 0, 2).reshape(C, E * B).numpy()
    grad = (delta.norm(dim=1) / g.norm(dim=1).unsqueeze(1)).permute(1, 0, 2).reshape(C, E * B).numpy()
    return ms, mean, gms, hidden, grad, bound


def _resnet(paths, combos, scale, x0, g, depth, alpha, tick):
    """The res-2 ResNet's forward pass and adjoint recursion for every combo at once (module docstring);
    ``tick()`` after each layer of each pass."""
    E, n, B, C, s, h, ms, mean = _start(combos, scale, x0, depth)
    pre = []
    for k in range(1, depth + 1):
        z = torch.matmul(_layer(paths["inner"], depth, k), h.view(E, n, C * B)).view(E, n, C, B).mul_(s)
        pre.append(z)
        a = _apply(z, combos, 0)
        h = h + alpha * torch.matmul(_layer(paths["outer"], depth, k), a.view(E, n, C * B)).view(E, n, C, B).mul_(s)
        ms[:, :, k], mean[:, :, k] = _stats(h)
        tick()
    gms = np.zeros((C, E, depth + 1))
    p = g.unsqueeze(2).expand(E, n, C, B).clone()
    for k in range(depth, 0, -1):
        gms[:, :, k] = p.pow(2).mean((1, 3)).T.numpy()
        q = torch.matmul(_layer(paths["outer"], depth, k).mT, p.view(E, n, C * B)).view(E, n, C, B).mul_(s)
        q.mul_(_apply(pre[k - 1], combos, 1))
        p = p + alpha * torch.matmul(_layer(paths["inner"], depth, k).mT, q.view(E, n, C * B)).view(E, n, C, B).mul_(s)
        tick()
    gms[:, :, 0] = p.pow(2).mean((1, 3)).T.numpy()
    hidden = (h.norm(dim=1) / x0.norm(dim=1).unsqueeze(1)).permute(1, 0, 2).reshape(C, E * B).numpy()
    grad = (p.norm(dim=1) / g.norm(dim=1).unsqueeze(1)).permute(1, 0, 2).reshape(C, E * B).numpy()
    return ms, mean, gms, hidden, grad, None

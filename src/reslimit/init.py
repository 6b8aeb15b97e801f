"""Weight initializations: standard, LeCun, Glorot (Xavier) and He (Kaiming), normal or uniform.

Every scheme draws i.i.d. centred entries of a variance chosen so that the variance of the pre-activations
z^l = W^l x^l neither grows nor shrinks with the layer l. With independent centred weights,

    Var[z^l] = fan_in Var[w] E[(x^l)^2],   x^l = f(z^{l-1}),

and E[f(z)^2] = kappa Var[z] for z centred and symmetric, with kappa = 1 for an odd activation linear at 0
(identity; tanh near 0), kappa = 1/2 for ReLU (half of the mass of z is sent to 0) and kappa = (1 + a^2)/2 for
the leaky ReLU of slope a. Var[z^l] = Var[z^{l-1}] holds when fan_in Var[w] = 1/kappa: the forward condition.
The backward pass gives the same condition with fan_out in place of fan_in. The schemes (fan_in = n_in, the
inputs of a neuron; fan_out = n_out, its outputs; the activation's kappa):

| scheme                      | Var[w]                       | uniform bound sqrt(3 Var[w])      |
|-----------------------------|------------------------------|-----------------------------------|
| "standard"                  | 1 / (3 n_in)                 | 1 / sqrt(n_in)                    |
| "lecun"                     | 1 / (kappa n_in)             | sqrt(3 / (kappa n_in))            |
| "glorot" (alias "xavier")   | 2 / (kappa (n_in + n_out))   | sqrt(6 / (kappa (n_in + n_out)))  |
| "he" (alias "kaiming")      | 1 / (kappa n_in)             | sqrt(3 / (kappa n_in))            |

"standard" is the heuristic W ~ U[-1/sqrt(n_in), 1/sqrt(n_in)] that Glorot and Bengio (2010, eq. (1)) start
from; it has no gain, and its variance 1/(3 n_in) makes Var[z] shrink by 3 a layer even with the identity.
Glorot and Bengio take the mean of the forward and backward conditions, 2/(n_in + n_out). He et al. (2015)
keep the forward one, for ReLU. The activation a scheme corrects for defaults to the one it was derived for:
the identity (kappa = 1) for "lecun" and "glorot", ReLU (kappa = 1/2) for "he"; so He is 2/n_in, with a leaky
ReLU of slope a 2/((1 + a^2) n_in), and LeCun with a ReLU is He. Activations: None (the scheme's own),
"identity", "tanh", "sigmoid" (kappa = 1, as torch's ``calculate_gain`` has it for sigmoid; for tanh torch
takes the gain 5/3, an empirical choice, where the course's odd-activation argument gives 1), "relu",
"leaky_relu" (slope 0.01, as :mod:`reslimit.blocks`) and "leaky_relu:<slope>". The gain of torch.nn.init is
sqrt(1/kappa): ``variance("glorot", n_in, n_out, "relu")`` is the variance of
``torch.nn.init.xavier_normal_(w, gain=calculate_gain("relu"))`` and ``variance("he", n_in, activation=a)``
that of ``kaiming_normal_(w, a=slope)``.

The law: "normal", N(0, Var[w]), or "uniform", U[-b, b] with b = sqrt(3 Var[w]) (a uniform law on [-b, b] has
variance b^2/3).

Example:
    >>> import torch
    >>> from reslimit import init
    >>> init.variance("he", 500)                            # 2/500
    0.004
    >>> init.bound("glorot", 500, 500)                      # sqrt(6/1000)
    0.07745966692414834
    >>> w = init.fill_(torch.empty(500, 500), "xavier", dist="uniform")
"""

from __future__ import annotations

import math

import torch

from . import _checks

SCHEMES = ("standard", "lecun", "glorot", "he")
ALIASES = {"xavier": "glorot", "kaiming": "he"}
DISTS = ("normal", "uniform")
ACTIVATIONS = ("identity", "tanh", "sigmoid", "relu", "leaky_relu", "leaky_relu:<slope>")
_DEFAULT_ACTIVATION = {"lecun": "identity", "glorot": "identity", "he": "relu"}
_LEAKY_SLOPE = 0.01  # the slope of "leaky_relu" in reslimit.blocks


def scheme_name(scheme: str) -> str:
    """The scheme's canonical name ("xavier" -> "glorot", "kaiming" -> "he"); ValueError for an unknown one."""
    allowed = SCHEMES + tuple(ALIASES)
    if not isinstance(scheme, str) or scheme not in allowed:
        raise ValueError(f"scheme must be one of {', '.join(repr(s) for s in allowed)}; got {scheme!r}")
    return ALIASES.get(scheme, scheme)


def kappa(activation: str | None) -> float:
    """E[f(z)^2] / Var[z] for z centred symmetric: 1 (identity, tanh, sigmoid), 1/2 (relu), (1 + a^2)/2 (leaky).

    For tanh and sigmoid this is the linearisation at 0 the initializations are built on (the course's odd case;
    sigmoid as torch's gain 1), not the exact ratio, which depends on Var[z].
    """
    if activation in ("identity", "tanh", "sigmoid"):
        return 1.0
    if activation == "relu":
        return 0.5
    if activation == "leaky_relu":
        return (1 + _LEAKY_SLOPE**2) / 2
    slope = _checks.leaky_slope(activation) if isinstance(activation, str) and activation.startswith("leaky_relu:") \
        else None
    if slope is not None:
        return (1 + slope**2) / 2
    raise ValueError(f"activation must be None or one of {', '.join(repr(a) for a in ACTIVATIONS)} ({_checks.SLOPE}); "
                     f"got {activation!r}")


def variance(scheme: str, fan_in: int, fan_out: int | None = None, activation: str | None = None) -> float:
    """Var[w] of the scheme for a layer with ``fan_in`` inputs and ``fan_out`` outputs (see the module's table).

    standard 1/(3 fan_in); lecun 1/(kappa fan_in); glorot 2/(kappa (fan_in + fan_out)); he 1/(kappa fan_in), with
    kappa = :func:`kappa` of ``activation`` (None: identity for lecun and glorot, relu for he, so he is
    2/fan_in). ``fan_out`` is needed by glorot only.

    Raises:
        ValueError: an unknown scheme or activation, a fan that is not a positive integer, glorot without
            fan_out, or an activation given to "standard" (a fixed law without gain).
    """
    scheme = scheme_name(scheme)
    fan_in = _checks.positive_int("fan_in", fan_in)
    if fan_out is not None:
        fan_out = _checks.positive_int("fan_out", fan_out)
    if scheme == "standard":
        if activation is not None:
            raise ValueError(f"activation must be None for scheme 'standard' (U[-1/sqrt(fan_in), 1/sqrt(fan_in)], "
                             f"no gain); got {activation!r}")
        return 1 / (3 * fan_in)
    k = kappa(_DEFAULT_ACTIVATION[scheme] if activation is None else activation)
    if scheme == "glorot":
        if fan_out is None:
            raise ValueError("fan_out must be a positive integer for scheme 'glorot' (2/(fan_in + fan_out)); got None")
        return 2 / (k * (fan_in + fan_out))
    return 1 / (k * fan_in)


def bound(scheme: str, fan_in: int, fan_out: int | None = None, activation: str | None = None) -> float:
    """The bound b of the scheme's uniform law U[-b, b]: b = sqrt(3 :func:`variance`).

    standard 1/sqrt(fan_in); glorot sqrt(6/(fan_in + fan_out)); he sqrt(6/fan_in), with a leaky ReLU of slope a
    sqrt(6/((1 + a^2) fan_in)); lecun sqrt(3/fan_in).
    """
    return math.sqrt(3 * variance(scheme, fan_in, fan_out, activation))


def fans(tensor: torch.Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight tensor: its last two dimensions, (..., fan_out, fan_in).

    A matrix W of shape (n_out, n_in) maps x to W x, as torch.nn.Linear's weight: the same fans as torch's. The
    leading dimensions of a larger tensor index independent matrices (layers, ensemble members), as the weights
    (L, E, d, d) of :mod:`reslimit.paths`, where torch would read them as a receptive field.
    """
    if not isinstance(tensor, torch.Tensor) or tensor.dim() < 2 or tensor.shape[-1] < 1 or tensor.shape[-2] < 1:
        shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise ValueError(f"tensor must be a torch.Tensor of at least 2 non-empty dimensions (..., fan_out, fan_in); "
                         f"got {shape}")
    return int(tensor.shape[-1]), int(tensor.shape[-2])


def fill_(tensor: torch.Tensor, scheme: str, dist: str = "normal", activation: str | None = None, *,
          generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill ``tensor`` in place with the scheme's i.i.d. entries and return it (autograd does not record it).

    dist "normal": N(0, :func:`variance`); "uniform": U[-b, b], b = :func:`bound`; the fans are :func:`fans`
    of the tensor (its last two dimensions). ``generator`` is a torch.Generator (None: torch's global one).

    Raises:
        ValueError: an unknown scheme, dist or activation, or a tensor that is not floating point or has fewer than
            two dimensions.
    """
    fan_in, fan_out = fans(tensor)
    if not tensor.is_floating_point():
        raise ValueError(f"tensor must be a floating-point tensor; got dtype {tensor.dtype}")
    dist = _checks.choice("dist", dist, DISTS)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be None or a torch.Generator; got {type(generator).__name__}")
    var = variance(scheme, fan_in, fan_out, activation)
    with torch.no_grad():
        if dist == "normal":
            return tensor.normal_(0.0, math.sqrt(var), generator=generator)
        b = math.sqrt(3 * var)
        return tensor.uniform_(-b, b, generator=generator)


def layer_scheme(name: str, spec: str) -> tuple[str, str]:
    """(scheme, dist) from "scheme" or "scheme:dist" (dist "normal", the default, or "uniform"): "he:uniform".

    Raises:
        ValueError: naming the argument ``name``, for an unknown scheme or law.
    """
    scheme, _, dist = spec.partition(":") if isinstance(spec, str) else (spec, "", "")
    allowed = SCHEMES + tuple(ALIASES)
    if scheme not in allowed or dist not in ("", *DISTS):
        raise ValueError(f"{name} must be a scheme ({', '.join(repr(s) for s in allowed)}), optionally followed by "
                         f"':normal' or ':uniform'; got {spec!r}")
    return ALIASES.get(scheme, scheme), dist or "normal"


def path_std(scheme: str, width: int, cols: int | None = None) -> float:
    """The ``std`` of a weight path whose width x cols layers V = std Z / sqrt(cols) have the scheme's variance.

    Var[V_ij] = std^2 / cols = :func:`variance` (scheme, fan_in = cols, fan_out = width), so std = sqrt(cols
    variance): for a square d x d layer (``cols`` None) sqrt(2) for he, 1 for glorot and lecun, sqrt(1/3) for
    standard (each with its default activation).
    """
    width = _checks.positive_int("width", width)
    cols = width if cols is None else _checks.positive_int("cols", cols)
    return math.sqrt(cols * variance(scheme, cols, width))

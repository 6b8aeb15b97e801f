"""What a block knows of itself: its second moment, critical beta and hypotheses against Monte Carlo and the
documents' rules; no block name compared as a string outside blocks.py; a new block is one class."""

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from reslimit import ACTIVATIONS, BLOCKS, ScaledResNet, demo, get_block, gradients, native, theory
from reslimit.blocks import Res1

SRC = Path(__file__).resolve().parents[1] / "src" / "reslimit"
NAMES = {"res1", "res2", "res3"}
CANDIDATES = [*ACTIVATIONS, "leaky_relu:0.75", "leaky_relu:0.8", "leaky_relu:0.7", "leaky_relu:-0.5", "leaky_relu:0"]
PAIRS = [(name, act) for name, cls in BLOCKS.items() for act in CANDIDATES
         if cls.activations is None or act in cls.activations]
DRAWS, WIDTH = 20000, 8


def _probes(d: int = WIDTH) -> list[torch.Tensor]:
    """Inputs h of different sizes and signs, (1, 1, d) each: a second moment that is a constant has it at all."""
    v = torch.randn(d, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    sparse = torch.zeros(d, dtype=torch.float64)
    sparse[0] = 1.0
    return [x.view(1, 1, d) for x in (v, -v, 0.1 * v, 3.0 * v, sparse)]


def _weights(dist: str, d: int = WIDTH, n: int = DRAWS) -> torch.Tensor:
    """n i.i.d. inner matrices W (n, d, d), symmetric entries of variance 1/d (fixed seed)."""
    g = torch.Generator().manual_seed(5)
    if dist == "gaussian":
        w = torch.randn(n, d, d, generator=g, dtype=torch.float64)
    else:  # rademacher
        w = torch.randint(0, 2, (n, d, d), generator=g).double() * 2 - 1
    return w / math.sqrt(d)


def _ratio(block, h: torch.Tensor, W: torch.Tensor) -> tuple[float, float]:
    """Mean and standard error over the draws of ||g(h, W)||^2 / ||h||^2 (no W: one exact value, SE 0)."""
    if not block.inner:
        r = (block.g(h, None) ** 2).sum() / (h**2).sum()
        return float(r), 0.0
    r = (block.g(h.expand(len(W), 1, -1), W) ** 2).sum((1, 2)) / (h**2).sum()
    return float(r.mean()), float(r.std() / math.sqrt(len(r)))


@pytest.mark.parametrize("dist", ["gaussian", "rademacher"])
@pytest.mark.parametrize("name,act", PAIRS)
def test_second_moment_is_the_monte_carlo_mean(name, act, dist):
    """c = E||g(h, W)||^2 / ||h||^2 at every probe h within 4 SE; None: the ratio moves with h by more than that."""
    block, W = get_block(name, act), _weights(dist)
    c = block.second_moment()
    measured = [_ratio(block, h, W) for h in _probes()]
    if c is not None:
        for mean, se in measured:
            assert abs(mean - c) <= 4 * se + 1e-12, (block, c, mean, se)
    else:
        (lo, se_lo), (hi, se_hi) = min(measured), max(measured)
        assert hi - lo > 4 * math.hypot(se_lo, se_hi), (block, measured)


def test_second_moments_are_the_documented_constants():
    c = {pair: get_block(*pair).second_moment() for pair in PAIRS}
    assert c["res1", "identity"] == 1.0 and c["res2", "identity"] == 1.0
    assert c["res2", "relu"] == c["res3", "relu"] == c["res2", "leaky_relu:0"] == 0.5
    assert c["res2", "leaky_relu:0.75"] == pytest.approx((1 + 0.75**2) / 2, rel=1e-15)
    assert c["res2", "leaky_relu:-0.5"] == pytest.approx(0.625, rel=1e-15)
    assert c["res2", "tanh"] is None and c["res1", "relu"] is None and c["res1", "leaky_relu:0.75"] is None


def _documented_critical(block, first_order: float) -> float | None:
    """Section 4 and reslimit.studies.phase: the first-order beta without inner weights; with them max(., 1/2)
    for ReLU (a mean part m != 0), and for another sigma the first-order beta from 1/2 on, else none claimed."""
    if not block.inner:
        return first_order
    if block.activation.name == "relu":
        return max(first_order, 0.5)
    return first_order if first_order >= 0.5 else None


@pytest.mark.parametrize("name,act", PAIRS)
def test_critical_beta_follows_the_documents_rule(name, act):
    block = get_block(name, act)
    for first_order in (0.05, 0.2, 0.5, 0.7, 1.0):
        assert block.critical_beta(first_order) == _documented_critical(block, first_order), (block, first_order)
    assert block.critical_beta(0.5) == 0.5 and block.critical_beta(1.0) == 1.0  # i.i.d. and smooth: every block


def test_critical_betas_of_the_phase_line():
    assert get_block("res3").critical_beta(0.2) == 0.5 and get_block("res3").critical_beta(0.8) == 0.8
    assert get_block("res1", "tanh").critical_beta(0.2) == 0.2
    assert get_block("res2", "tanh").critical_beta(0.2) is None and get_block("res2", "tanh").critical_beta(0.6) == 0.6


def test_hypotheses_as_written():
    """Hypotheses 2 and 4 with the constants 1/2 and 1: res-3 always; res-1, res-2 when 1/sqrt 2 <= a, b <= 1."""
    holds = {pair: get_block(*pair).hypotheses()[0] for pair in PAIRS}
    assert holds["res3", "relu"] and holds["res1", "identity"] and holds["res2", "identity"]
    assert holds["res1", "leaky_relu:0.75"] and holds["res2", "leaky_relu:0.8"]
    # a = 0.7 < 1/sqrt(2) = 0.7071: just outside; tanh and ReLU outside res-3 have a = 0
    assert not holds["res1", "leaky_relu:0.7"] and not holds["res2", "tanh"] and not holds["res1", "relu"]
    assert not holds["res2", "relu"] and not holds["res1", "tanh"] and not holds["res2", "leaky_relu:-0.5"]
    why = "res2, leaky_relu:0.8: a=0.8, b=1 (1/sqrt 2 <= a, b <= 1)"
    assert get_block("res2", "leaky_relu:0.8").hypotheses()[1] == why
    assert get_block("res3").hypotheses()[1].startswith("res-3: E||ReLU(Wh)||^2 = ||h||^2/2")


@pytest.mark.parametrize("name,act", [pair for pair in PAIRS if get_block(*pair).hypotheses()[0]])
def test_where_hypothesis_2_holds_the_monte_carlo_ratio_is_in_its_band(name, act):
    block, W = get_block(name, act), _weights("gaussian")
    for mean, se in (_ratio(block, h, W) for h in _probes()):
        assert 0.5 - 4 * se - 1e-12 <= mean <= 1 + 4 * se + 1e-12, (block, mean, se)


@pytest.mark.parametrize("name,act", PAIRS)
def test_the_kernel_fact_decides_the_engine(name, act):
    block = get_block(name, act)
    assert block.kernel in (None, "res1", "res2") and (block.kernel == "res2") == (block.kernel is not None
                                                                                  and block.inner)
    engine = native.engine(name, act, torch.float64)
    assert native.engine(block, None, torch.float64) == engine
    if block.kernel is None or block.activation.kernel is None:
        assert engine == "torch"


# ---------------------------------------------------------------------------------------------
# no block name compared as a string outside blocks.py

def _names_in(node: ast.AST) -> list[ast.Constant]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Constant) and n.value in NAMES]


def name_comparisons(source: str) -> list[int]:
    """Lines where "res1", "res2" or "res3" is an operand of ==, !=, in, not in (alone or in a literal tuple, list
    or set), a dict literal's key (alone or in a tuple) or a match case's pattern."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                if isinstance(operand, (ast.Constant, ast.Tuple, ast.List, ast.Set)):
                    lines += [n.lineno for n in _names_in(operand)]
        elif isinstance(node, ast.Dict):
            for key in node.keys:
                if isinstance(key, (ast.Constant, ast.Tuple)):
                    lines += [n.lineno for n in _names_in(key)]
        elif isinstance(node, ast.match_case):
            lines += [n.lineno for n in _names_in(node.pattern)]
    return sorted(set(lines))


def test_the_scan_finds_each_kind_of_name_comparison():
    source = ('if block == "res1":\n    pass\n'  # 1
              'x = block in ("res2", "res3")\n'  # 3
              'C = {("res1", "identity"): 1.0}\n'  # 4
              'D = {"res2": 0}\n'  # 5
              'match block:\n    case "res3":\n        pass\n'  # 7
              'ok = get_block("res1")\n'  # an argument: fine
              'y = {"block": "res2"}\n'  # a value: fine
              'z = "res3" != name\n')  # 11
    assert name_comparisons(source) == [1, 3, 4, 5, 7, 11]


def test_no_block_name_is_compared_outside_blocks_py():
    offenders = [f"{file.relative_to(SRC.parent.parent)}:{line}" for file in sorted(SRC.rglob("*.py"))
                 if file != SRC / "blocks.py" for line in name_comparisons(file.read_text())]
    assert offenders == [], "block names compared as strings (use the block's facts):\n" + "\n".join(offenders)


# ---------------------------------------------------------------------------------------------
# a new block: one class, nothing else edited

SCALE = 1 / math.sqrt(2)


@pytest.fixture
def registry():
    """BLOCKS as it was before the test, whatever the test registers."""
    before = dict(BLOCKS)
    yield BLOCKS
    BLOCKS.clear()
    BLOCKS.update(before)


def test_a_new_block_is_one_class(registry):
    class Res1Scaled(Res1):
        """res-1-scaled: g(h) = sigma(h) / sqrt 2; (dg/dh)^T q = sigma'(h) * q / sqrt 2."""

        name, formula, kernel = "res1-scaled", "g = sigma(h) / sqrt 2", None  # no compiled pass: the torch loop

        def second_moment(self):
            c = super().second_moment()
            return None if c is None else c / 2  # E||g||^2 scales by SCALE^2 = 1/2

        def hypotheses(self):
            if self.activation.envelope is None:
                return False, f"{self.name}, {self.activation.name}: no envelope known"
            a, b = (SCALE * x for x in self.activation.envelope)
            return a**2 >= 0.5 - 1e-12 and b <= 1 + 1e-12, f"{self.name}, {self.activation.name}: a={a:g}, b={b:g}"

        def g(self, h, W):
            return SCALE * super().g(h, W)

        def cached(self, x, W, out=None):
            g, s = super().cached(x, W, out)
            return SCALE * g, s  # s: sigma(x) or x, what the activation's vjp reads

        def adjoint_step(self, p, s, VT, WT, alpha, out=None):
            return super().adjoint_step(p, s, VT, WT, alpha * SCALE, out)

    assert BLOCKS["res1-scaled"] is Res1Scaled
    block = get_block("res1-scaled", "identity")
    assert (block.second_moment(), block.critical_beta(0.3), block.hypotheses()[0]) == (0.5, 0.3, True)
    assert not get_block("res1-scaled", "leaky_relu:0.8").hypotheses()[0]  # a = 0.8 / sqrt 2 < 1/sqrt 2

    # the network: h_{k+1} = h_k + alpha V_{k+1} sigma(h_k) / sqrt 2, on the torch loop
    net = ScaledResNet(6, 5, beta=0.5, block="res1-scaled", activation="tanh", ensemble=3, seed=4)
    h0 = torch.randn(3, 2, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert native.engine("res1-scaled", "tanh", torch.float64) == native.engine(net.block, None, torch.float64) \
        == "torch"
    h = h0
    for V in net.V.detach():
        h = h + net.alpha * torch.tanh(h) @ V.mT * SCALE
    with torch.no_grad():
        torch.testing.assert_close(net(h0), h, rtol=1e-12, atol=1e-12)
    # the explicit adjoint (adjoint_step) is autograd's gradient through the loop
    x = h0.clone().requires_grad_(True)
    net(x).square().sum().backward()
    explicit = x.grad.clone()
    with pytest.MonkeyPatch.context() as m:
        m.setattr(gradients, "ENABLED", False)
        x.grad = None
        net(x).square().sum().backward()
    torch.testing.assert_close(explicit, x.grad, rtol=1e-10, atol=1e-12)

    # the theory's facts: the exact curve with c = 1/2, the demo's identity passing
    params = {"exact": True, "first_order": 0.5, "block": "res1-scaled", "activation": "identity"}
    curve, label = theory.growth(params, 0.5, [16])
    assert curve[0] == pytest.approx(math.sqrt((1 + 0.5 / 16) ** 16 - 1), rel=1e-12) and "0.5" in label
    rows = demo.run_demo(blocks=[("res1-scaled", "identity")], betas=(0.5,), depths=(4, 16), width=8, ensemble=64,
                         inputs=4)
    assert [r["c"] for r in rows] == [0.5, 0.5] and all(r["verdict"] == "pass" for r in rows)
    assert np.isfinite([r["z"] for r in rows]).all()


def test_the_registry_is_back_after_the_new_block():
    assert "res1-scaled" not in BLOCKS and set(NAMES) <= set(BLOCKS)

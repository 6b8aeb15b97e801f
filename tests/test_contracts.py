"""Contracts that every registered thing keeps, found from the registries themselves: the commands of the command
line's parser, the blocks of BLOCKS with each activation they take, the paths of PATHS. A new command, block or
path is checked here without a line added.

- a command given bad input (an out-of-range number, an unknown choice or name, a file that is not an .npz, a
  missing required flag, an unknown flag) prints one line ``reslimit: error: ...`` on stderr, nothing on stdout,
  no traceback, writes no output folder, and exits 2; its --help works and every flag has a help text;
- a block builds a ScaledResNet of each activation it takes, whose pass (with and without autograd) is the
  recursion h_{k+1} = h_k + alpha V_{k+1} g(h_k, W_{k+1}) with the block's own g, gradients included;
- a path builds with its default options and gives the shapes documented: weights(L) (L, E, d, d), X(t)
  (E, d, d) or (len(t), E, d, d), the weights read off X as its ``kind`` says;
- the type check of ``make lint`` covers every module the package's names come from.
"""

import argparse
import ast
import math
from pathlib import Path

import pytest
import torch

from reslimit import ACTIVATIONS, BLOCKS, PATHS, ScaledResNet, cli, make_path
from reslimit.limits import LIMITS
from reslimit.paths import path_options

# Command line -------------------------------------------------------------------------------------------------


def _commands() -> dict[str, argparse.ArgumentParser]:
    """The subcommands of ``reslimit``, as its parser defines them."""
    (sub,) = [a for a in cli._parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


COMMANDS = _commands()
NAMED = {"block": BLOCKS, "activation": ACTIVATIONS, "init": PATHS, "limit": LIMITS}  # flags read as a registry key


def _flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The parser's options by destination (--help aside)."""
    return {a.dest: a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)}


def _required(parser: argparse.ArgumentParser, tmp_path) -> list[str]:
    """Valid values of the required arguments: a fresh folder for a required option (--out), a file that is not an
    .npz for a positional one (FILE.npz)."""
    argv = []
    for a in parser._actions:
        if a.option_strings and a.required:
            argv += [a.option_strings[0], str(tmp_path / "out")]
        elif not a.option_strings:
            argv.append(str(tmp_path / "text.npz"))
    return argv


def _context(parser: argparse.ArgumentParser, dest: str) -> list[str]:
    """What makes an option of a path or limit count: the first path (--init) or limit (--limit) that takes it."""
    flags = _flags(parser)
    if "init" in flags and any(path_options(k, **{dest: 1}) for k in PATHS):
        return ["--init", next(k for k in PATHS if path_options(k, **{dest: 1}))]
    if "limit" in flags and any(dest in limit.options for limit in LIMITS.values()):
        return ["--limit", next(k for k, limit in LIMITS.items() if dest in limit.options)]
    return []


def _bad_values(command: str) -> list[tuple[str, list[str], str]]:
    """(id, arguments, the name the refusal gives) of each bad value the command's flags can be given: -1 for
    every number and grid (each refuses it: sizes, seeds, workers, betas, Hurst indices, length scales, learning
    rates...), an unknown choice or registry key, a file that is not an .npz for a positional argument."""
    parser = COMMANDS[command]
    cases = []
    for dest, a in _flags(parser).items():
        flag = a.option_strings[0]
        if a.type in (int, float, cli._finite_float) or dest in cli.GRIDS:
            cases.append((f"{flag} -1", [*_context(parser, dest), flag, "-1"], dest))
        elif a.choices is not None or dest in NAMED:
            cases.append((f"{flag} nope", [flag, "nope"], dest))
    if any(not a.option_strings for a in parser._actions):
        cases.append(("FILE not an .npz", [], "text.npz"))
    return cases


BAD = [pytest.param(command, args, named, id=f"{command} {name}") for command in COMMANDS
       for name, args, named in _bad_values(command)]


def _refused(capsys, tmp_path, argv: list[str]) -> str:
    """Run ``reslimit argv`` in this process; check the refusal, return its line."""
    assert cli.main(argv) == 2, argv
    out, err = capsys.readouterr()
    assert out == "", (argv, out)
    assert err.startswith("reslimit: error: ") and err.count("\n") == 1 and err.endswith("\n"), (argv, err)
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists(), f"{argv} wrote its folder before refusing"
    return err


def test_the_parser_has_the_documented_commands():
    # the registry the contracts below iterate: every command of the module's docstring, none missing
    documented = {line.split()[1] for line in cli.__doc__.splitlines() if line.strip().startswith("reslimit ")}
    assert documented <= set(COMMANDS), documented - set(COMMANDS)
    assert all(_bad_values(c) for c in COMMANDS), "a command without a flag to give a bad value"


@pytest.mark.parametrize("command,args,named", BAD)
def test_a_bad_value_is_refused_in_one_line_naming_it_with_exit_2(capsys, tmp_path, command, args, named):
    (tmp_path / "text.npz").write_text("not an npz archive\n")
    err = _refused(capsys, tmp_path, [command, *_required(COMMANDS[command], tmp_path), *args])
    assert named in err, err


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_flag_is_refused_in_one_line_with_exit_2(capsys, tmp_path, command):
    err = _refused(capsys, tmp_path, [command, *_required(COMMANDS[command], tmp_path), "--no-such-flag", "1"])
    assert "--no-such-flag" in err


@pytest.mark.parametrize("command", [c for c, p in COMMANDS.items() if any(a.required for a in p._actions)])
def test_a_missing_required_argument_is_refused_in_one_line_with_exit_2(capsys, tmp_path, command):
    err = _refused(capsys, tmp_path, [command])
    assert "required" in err


def test_no_command_or_an_unknown_one_is_refused_in_one_line_with_exit_2(capsys, tmp_path):
    for argv in ([], ["no-such-command"], ["--no-such-flag"]):
        _refused(capsys, tmp_path, argv)


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_works_and_every_flag_has_a_help_text(capsys, command):
    assert cli.main(["--help"] if command is None else [command, "--help"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.startswith(f"usage: reslimit{'' if command is None else ' ' + command}")
    parser = cli._parser() if command is None else COMMANDS[command]
    for a in parser._actions:
        if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
            assert a.help and a.help.strip(), f"{command} {a.option_strings or a.dest} has no help text"
            for flag in a.option_strings:
                assert flag in out


# Blocks -------------------------------------------------------------------------------------------------------


def _activations(cls) -> tuple:
    """The activations a block takes: its own list, or every name of ACTIVATIONS, a leaky ReLU of negative slope
    (sigma' read from the input) and a user's callable."""
    return cls.activations or (*ACTIVATIONS, "leaky_relu:-0.5", torch.sin)


PAIRS = [pytest.param(name, act, id=f"{name}-{getattr(act, '__name__', act)}")
         for name, cls in BLOCKS.items() for act in _activations(cls)]


def _recursion(net: ScaledResNet, h0: torch.Tensor) -> torch.Tensor:
    """h_L of h_{k+1} = h_k + alpha V_{k+1} g(h_k, W_{k+1}) with states as rows: h <- h + alpha g(h, W) V^T."""
    h = h0
    for k in range(net.depth):
        g = net.block.g(h, None if net.W is None else net.W[k])
        h = h + net.alpha * torch.bmm(g, net.V[k].mT)
    return h


@pytest.mark.parametrize("name,act", PAIRS)
def test_every_block_runs_a_network_of_each_activation_it_takes(name, act):
    E, n, d, L = 2, 3, 4, 6
    net = ScaledResNet(L, d, beta=0.5, block=name, activation=act, ensemble=E, seed=1)
    assert net.block.name == name and (net.W is not None) == net.block.inner
    h0 = torch.randn(E, n, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        hL = net(h0)
    assert hL.shape == (E, n, d) and torch.isfinite(hL).all()
    expected = _recursion(net, h0)
    assert torch.allclose(hL, expected, rtol=1e-12, atol=1e-12)
    assert torch.allclose(net.trajectory(h0)[-1], hL, rtol=1e-12, atol=1e-12)

    x = h0.clone().requires_grad_(True)  # recorded by autograd: the explicit adjoint's pass
    weights = [net.V] + ([net.W] if net.W is not None else [])
    grads = torch.autograd.grad(net(x).square().sum(), [x, *weights])
    y = h0.clone().requires_grad_(True)
    expected_grads = torch.autograd.grad(_recursion(net, y).square().sum(), [y, *weights])
    for got, want in zip(grads, expected_grads):
        assert torch.allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", [n for n, cls in BLOCKS.items() if cls.activations is not None])
def test_a_block_refuses_an_activation_it_does_not_take(name):
    other = next(a for a in ACTIVATIONS if a not in BLOCKS[name].activations)
    with pytest.raises(ValueError, match=f"activation must be .* for block {name!r}"):
        ScaledResNet(4, 3, block=name, activation=other)


# Paths --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", PATHS)
def test_every_path_builds_and_gives_the_documented_shapes(kind):
    E, d, L = 2, 3, 8
    path = make_path(kind, d, E, seed=1)
    assert isinstance(path, PATHS[kind]) and path.shape == (E, d, d) and (path.width, path.ensemble) == (d, E)
    V = path.weights(L)
    assert V.shape == (L, E, d, d) and V.dtype == torch.float64 and torch.isfinite(V).all()
    assert torch.allclose(path.weights(L, 2, 5), V[2:5], rtol=0, atol=1e-13)  # a chunk is the layers it names
    assert torch.equal(make_path(kind, d, E, seed=1).weights(L), V)  # every number from the seed
    assert not torch.allclose(make_path(kind, d, E, seed=2).weights(L), V)
    assert torch.allclose(path.to(dtype=torch.float32).weights(L).double(), V, rtol=1e-5, atol=1e-6)
    net = ScaledResNet(L, d, beta=path.natural_beta, outer=path)
    assert torch.equal(net.V.detach(), V)

    if path.kind == "iid":
        with pytest.raises(ValueError, match="no continuous path"):
            path.evaluate(0.5)
        return
    times = [k / L for k in range(L + 1)]
    X = path.evaluate(times)
    assert X.shape == (L + 1, E, d, d) and path.evaluate(0.5).shape == (E, d, d)
    assert torch.allclose(path.evaluate(0.5), X[L // 2], rtol=0, atol=1e-13)
    assert torch.allclose(path.evaluate(0.25, 0.75), X[3 * L // 4] - X[L // 4], rtol=0, atol=1e-13)
    if path.kind == "values":  # V_k = X((k+1)/L) / sqrt(d)
        read = X[1:] / math.sqrt(d)
    else:  # "increments": V_k = (X((k+1)/L) - X(k/L)) L^beta / sqrt(d), beta the path's natural one
        assert path.kind == "increments"
        read = torch.diff(X, dim=0) * L**path.natural_beta / math.sqrt(d)
    assert torch.allclose(V, read, rtol=1e-10, atol=1e-12)


# The type check --------------------------------------------------------------------------------------------------


def test_the_type_check_covers_every_module_the_package_exports_from():
    """[tool.mypy] files (what make lint type-checks) holds each module ``reslimit/__init__.py`` imports from."""
    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parents[1]
    files = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    tree = ast.parse((root / "src/reslimit/__init__.py").read_text())
    modules = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 1]
    assert modules
    for module in modules:
        path = f"src/reslimit/{module.replace('.', '/')}"
        assert f"{path}.py" in files or path in files, f"add {path} to [tool.mypy] files in pyproject.toml"

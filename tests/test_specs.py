"""NetSpec and PathSpec: validated once, built into the very objects the keywords build, round-tripped as data."""

import argparse
import json

import pytest
import torch

from reslimit import ScaledResNet
from reslimit.blocks import BLOCKS
from reslimit.paths import PATHS
from reslimit.specs import NetSpec, PathSpec, add_arguments, keywords, takes_specs


@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_a_built_net_is_the_seeded_scaled_resnet(block):
    """NetSpec(...).build(seed=s) on the default path draws V (and W) as ScaledResNet(seed=s): bit for bit."""
    spec = NetSpec(block=block, width=5, depth=7, beta=0.5)
    built = spec.build(seed=11, ensemble=3)
    direct = ScaledResNet(7, 5, beta=0.5, block=block, activation=spec.activation, seed=11, ensemble=3)
    assert torch.equal(built.V, direct.V)
    assert (built.inner is None) == (direct.inner is None) == (not BLOCKS[block].inner)
    if direct.inner is not None:
        assert torch.equal(built.W, direct.W)
    h0 = torch.randn(3, 2, 5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(built(h0), direct(h0))


@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_paths_are_the_paths_a_built_net_runs_on(block):
    """NetSpec.paths draws (outer, inner) as build does: the same weights at any depth, inner only where the block
    has inner weights."""
    spec = NetSpec(block=block, width=4, depth=8, beta=1.0)
    path = PathSpec(kind="fbm", hurst=0.7, resolution=64)
    outer, inner = spec.paths(path, seed=5, ensemble=2)
    net = spec.build(path=path, seed=5, ensemble=2)
    assert torch.equal(outer.weights(8), net.V)
    assert (inner is None) == (not BLOCKS[block].inner)
    if inner is not None:
        assert torch.equal(inner.weights(8), net.W)


def test_a_path_class_that_sets_a_name_is_registered():
    from reslimit.paths import IID, make_path

    try:
        Named = type("Named", (IID,), {"name": "named_iid"})
        Unnamed = type("Unnamed", (IID,), {})
        assert PATHS["named_iid"] is Named and Unnamed not in PATHS.values()
        assert isinstance(make_path("named_iid", 3), Named)
    finally:
        PATHS.pop("named_iid", None)
    assert list(PATHS)[:4] == ["iid", "brownian", "smooth", "fbm"]


def test_activation_none_is_the_blocks_default_and_is_stored_resolved():
    assert NetSpec(block="res1").activation == BLOCKS["res1"].default_activation
    assert NetSpec(block="res3").activation == "relu"
    assert NetSpec(block="res1", activation="leaky_relu:0.1").to_dict()["activation"] == "leaky_relu:0.1"


@pytest.mark.parametrize("spec", [NetSpec(), NetSpec(block="res2", activation="relu", width=3, depth=9, beta=0.25,
                                                       dtype="float32"),
                                  PathSpec(), PathSpec("fbm", hurst=0.7, resolution=256),
                                  PathSpec("smooth", lengthscale=0.3), PathSpec("iid", dist="rademacher")])
def test_specs_round_trip_through_json(spec):
    data = json.loads(json.dumps(spec.to_dict()))
    assert type(spec).from_dict(data) == spec


@pytest.mark.parametrize("make, message", [
    (lambda: NetSpec(block="res9"), "block must be one of 'res1', 'res2', 'res3'; got 'res9'"),
    (lambda: NetSpec(width=0), "width must be an integer >= 1; got 0"),
    (lambda: NetSpec(depth=2.5), "depth must be an integer >= 1; got 2.5"),
    (lambda: NetSpec(beta=float("nan")), "beta must be a real number in [-inf, inf]; got nan"),
    (lambda: NetSpec(dtype="float16"), "dtype must be one of 'float32', 'float64'; got 'float16'"),
    (lambda: NetSpec(block="res3", activation="tanh"), "res3"),
    (lambda: PathSpec("gauss"), "kind must be one of 'iid', 'brownian', 'smooth', 'fbm'; got 'gauss'"),
    (lambda: PathSpec("iid", hurst=0.7), "hurst is not an option of path 'iid', which takes dist; got hurst=0.7"),
    (lambda: PathSpec("brownian", lengthscale=0.1), "lengthscale is not an option of path 'brownian', which takes "
                                                    "none of dist, hurst, lengthscale, resolution"),
    (lambda: PathSpec("fbm", hurst=1.0), "hurst must be a real number in (0.0, 1.0); got 1.0"),
    (lambda: PathSpec("iid", dist="cauchy"), "dist must be one of 'gaussian', 'uniform', 'rademacher'"),
    (lambda: NetSpec.from_dict({"block": "res1", "depthh": 3}), "NetSpec has no field(s) depthh"),
    (lambda: PathSpec.from_dict(["fbm"]), "a PathSpec must be a mapping of its fields; got list"),
])
def test_bad_fields_are_refused_naming_them(make, message):
    with pytest.raises(ValueError) as err:
        make()
    assert message in str(err.value)


def test_build_takes_depth_and_beta_where_the_spec_leaves_them():
    spec = NetSpec(width=4)
    net = spec.build(depth=6, beta=1.0)
    assert (net.depth, net.beta) == (6, 1.0)
    with pytest.raises(ValueError, match=r"depth is set by the spec \(6\); got depth=7 too"):
        NetSpec(width=4, depth=6).build(depth=7, beta=1.0)
    with pytest.raises(ValueError, match="beta must be set, in the spec or as beta=; got neither"):
        spec.build(depth=6)


def test_a_path_spec_builds_its_path_with_its_options():
    path = PathSpec("fbm", hurst=0.3, resolution=64).build(4, 2, seed=5)
    assert isinstance(path, PATHS["fbm"]) and (path.width, path.ensemble) == (4, 2)
    assert "hurst=0.3" in repr(path) and "resolution=64" in repr(path)
    assert PathSpec("smooth").limit == "ode" and PathSpec("brownian").limit == "sde" and PathSpec().limit is None


def test_takes_specs_routes_fields_to_keywords_and_refuses_them_twice():
    @takes_specs
    def entry(*, block="res3", init="iid", width=8, depth=10, beta=0.5, activation="relu", dtype="float64",
              dist="gaussian", hurst=None, lengthscale=None, resolution=None):
        return dict(block=block, init=init, width=width, depth=depth, beta=beta, activation=activation, hurst=hurst)

    got = entry(net=NetSpec(block="res1", width=3, depth=4), path=PathSpec("fbm", hurst=0.6))
    assert got == dict(block="res1", init="fbm", width=3, depth=4, beta=0.5, activation="tanh", hurst=0.6)
    assert entry() == dict(block="res3", init="iid", width=8, depth=10, beta=0.5, activation="relu", hurst=None)
    with pytest.raises(ValueError, match="width is given twice, as net.width and as width=: give one"):
        entry(net=NetSpec(width=3), width=3)
    with pytest.raises(ValueError, match="net must be a reslimit.NetSpec; got dict"):
        entry(net={"width": 3})
    assert "net" in str(__import__("inspect").signature(entry))

    @takes_specs
    def sweep(*, block="res1", width=8, depths=(4, 8), activation=None, dtype="float64"):
        return depths

    with pytest.raises(ValueError, match="sweep takes no depth: net.depth must be None here; got 4"):
        sweep(net=NetSpec(depth=4))
    assert sweep(net=NetSpec()) == (4, 8)


def test_takes_specs_gives_the_limit_a_path_drives():
    @takes_specs(kind="limit", limit=True)
    def conv(limit="sde", *, hurst=0.8, lengthscale=0.1):
        return limit, hurst

    assert conv(path=PathSpec("fbm", hurst=0.7)) == ("fbm", 0.7)
    assert conv(path=PathSpec("smooth")) == ("ode", 0.8)
    with pytest.raises(ValueError, match="path must drive a continuous limit; path 'iid' drives none"):
        conv(path=PathSpec())
    with pytest.raises(ValueError, match="limit is given twice, as path.kind and as the first argument"):
        conv("ode", path=PathSpec("brownian"))


def test_keywords_name_the_kind_init():
    assert keywords(PathSpec("smooth", lengthscale=0.2)) == {"init": "smooth", "lengthscale": 0.2}


def test_flags_come_from_the_fields():
    def entry(*, block="res3", width=8, depth=100, beta=0.5, activation="relu", dtype="float64"):
        pass

    parser = argparse.ArgumentParser()
    add_arguments(parser, NetSpec, entry)
    add_arguments(parser, PathSpec, only=("kind", "hurst"))
    text = parser.format_help()
    assert "--block BLOCK" in text and "(default res3)" in text and "--init INIT" in text
    args = parser.parse_args(["--width", "5", "--init", "fbm", "--hurst", "0.7"])
    assert (args.width, args.init, args.hurst, args.block) == (5, "fbm", 0.7, None)
    with pytest.raises(SystemExit):
        parser.parse_args(["--dtype", "float16"])


def test_entry_points_take_specs_as_their_keywords():
    """simulate and the scaling sweep built from specs are the runs their keywords give (same numbers)."""
    from reslimit import simulate
    from reslimit.studies import scaling

    net, path = NetSpec(block="res2", width=4, depth=8, beta=0.5), PathSpec("smooth", lengthscale=0.2)
    a = simulate(net=net, path=path, ensemble=2, samples=3, seed=4)
    b = simulate(block="res2", activation="tanh", init="smooth", lengthscale=0.2, width=4, depth=8, beta=0.5,
                 ensemble=2, samples=3, seed=4)
    assert a.statistics == b.statistics and torch.equal(a.hL, b.hL)
    sweep = dict(betas=(0.5, 1.0), depths=(4, 8), ensemble=2)
    assert (scaling.study(net=NetSpec(block="res1", width=4), path=path, **sweep).params
            == scaling.study(block="res1", activation="tanh", width=4, dtype="float64", init="smooth",
                             lengthscale=0.2, **sweep).params)
    with pytest.raises(ValueError, match="study takes no depth: net.depth must be None here; got 8"):
        scaling.study(net=net, **sweep)

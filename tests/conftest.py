import pytest
import torch

torch.set_default_dtype(torch.float64)


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run the long studies marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="long study: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)

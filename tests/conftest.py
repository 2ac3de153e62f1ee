"""Shared pytest set-up: `--runslow` enables tests marked slow."""

from __future__ import annotations

import os
import socket

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
# tiny models: one torch thread avoids oversubscribing the cores numba and workers also use
torch.set_num_threads(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run slow tests")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow") or os.environ.get("DIFFBT_RUNSLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def block_network():
    """Network access blocked at the socket level for a whole module
    (``pytestmark = pytest.mark.usefixtures("block_network")``)."""

    def refuse(*args, **kwargs):
        raise OSError("network access blocked by the test")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket.socket, "connect_ex", refuse)
        mp.setattr(socket, "create_connection", refuse)
        yield

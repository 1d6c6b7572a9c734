"""Pytest fixtures for tests that need the demo shop backend running as a real process.

Import them into a test module or conftest.py::

    from csbot.demo.pytest_shop import shop, shop_server  # noqa: F401

`shop_server` starts one process per test session; `shop` hands it to a test after re-seeding the
orders and clearing recorded calls and faults, so every test starts from the same shop.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from csbot.demo.shop_process import ShopProcess, free_port, start_shop


@pytest.fixture(scope="session")
def shop_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShopProcess]:
    base = tmp_path_factory.mktemp("shop")
    process = start_shop(free_port(), base / "shop.db", log_path=base / "shop.log")
    yield process
    process.stop()


@pytest.fixture
def shop(shop_server: ShopProcess) -> ShopProcess:
    if not shop_server.alive():
        raise RuntimeError(f"the shop backend died; see {shop_server.log_path}")
    shop_server.reset()
    return shop_server

"""The demo shop backend as a real process for these tests (see csbot.demo.pytest_shop)."""

from csbot.demo.pytest_shop import shop, shop_server  # noqa: F401

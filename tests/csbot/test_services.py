"""The embedded services that `csbot up` / `csbot serve` start when no URL is configured."""

from __future__ import annotations

from pathlib import Path

import redis

from csbot.services import start_redis


def test_embedded_redis_starts_serves_and_stops(tmp_path: Path) -> None:
    svc = start_redis(tmp_path)
    try:
        client = redis.Redis.from_url(svc.url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
    finally:
        svc.stop()
    assert svc.proc.poll() is not None

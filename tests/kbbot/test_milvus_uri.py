"""The Milvus URI switch is one config value: the same publish/search code against `milvus-lite server`."""

from __future__ import annotations

from pathlib import Path

import pytest

from csbot.storage.db import Database
from kbbot.dense_index import close_client
from kbbot.matcher import FaqMatcher
from kbbot.service import KBService
from kbbot.text import TextProcessor
from tests.kbbot.conftest import FAQ_SMALL


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["file", "server"])
def test_same_code_on_lite_file_and_server(kind: str, tmp_path: Path, db: Database, tiny_encoder) -> None:  # type: ignore[no-untyped-def]
    from csbot.services import start_milvus

    server = start_milvus(tmp_path) if kind == "server" else None
    uri = server.url if server else str(tmp_path / "vectors.db")
    try:
        svc = KBService(db, uri, lambda: tiny_encoder, None, "p")
        assert svc.import_file("m", FAQ_SMALL, publish=True).ok
        # a fresh client (as in another process, or after a restart) finds the collection released
        close_client(uri)
        items = svc.items("m", 1)
        m = FaqMatcher("m", 1, items, TextProcessor(), tiny_encoder, svc.dense)
        m.load()
        qvec = tiny_encoder.encode(["怎么开发票？"])[0]
        hits = svc.dense.search(m.collection, qvec[None, :], 3)[0]
        # the exact question's own vector is its nearest neighbour, whatever the encoder
        assert m.docs[hits[0][0]].text == "怎么开发票？" and hits[0][1] == pytest.approx(1.0, abs=1e-4)
        assert svc.rollback("m", 1) == 1
    finally:
        close_client(uri)
        if server:
            server.stop()

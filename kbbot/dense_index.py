"""Question vectors in Milvus: one collection per (tenant, KB version), an alias for the live one.

The same code talks to a Milvus Lite file (tests, single-process CLI), to `milvus-lite server`
or to Milvus standalone: only the URI differs. The bot searches the collection of the version
it loaded (so BM25 and dense recall always come from the same version); the alias
`kb_<tenant>_live` is switched on publish for tools and other readers.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from dataclasses import dataclass

import numpy as np
from pymilvus import DataType, MilvusClient

log = logging.getLogger(__name__)

_clients: dict[str, MilvusClient] = {}
_clients_lock = threading.Lock()
#: (uri, collection) pairs known to be loaded in this process
_loaded: set[tuple[str, str]] = set()
MAX_TEXT = 2048
#: a search slower than this counts as the vector store being down (the turn falls back to BM25)
SEARCH_TIMEOUT_S = 2.0
#: after a failure the store is left alone this long, so turns stay fast while it is down
RETRY_AFTER_S = 3.0
#: uri -> (monotonic time of the next attempt, reason) for stores that failed recently
_down: dict[str, tuple[float, str]] = {}
INSERT_BATCH = 2000
QUERY_BATCH = 500


def client_for(uri: str) -> MilvusClient:
    """One client per URI per process (a Milvus Lite file may be opened by one process only)."""
    with _clients_lock:
        client = _clients.get(uri)
        if client is None:
            client = MilvusClient(uri)
            _clients[uri] = client
        return client


class DenseUnavailable(RuntimeError):
    """The vector store cannot be searched now; callers fall back to lexical recall."""


def vector_store_status(uri: str) -> str:
    """`ok`, or `degraded: ...` while the last search of this store failed (until one succeeds)."""
    down = _down.get(uri)
    return "ok" if down is None else f"degraded: vector store unavailable, BM25 only ({down[1]})"


def close_client(uri: str) -> None:
    with _clients_lock:
        client = _clients.pop(uri, None)
        for key in [k for k in _loaded if k[0] == uri]:
            _loaded.discard(key)
    if client is not None:
        client.close()


def _safe(tenant_id: str) -> str:
    """Milvus names allow letters, digits and underscores: keep readable, add a hash for uniqueness."""
    clean = re.sub(r"[^0-9A-Za-z_]", "_", tenant_id)[:40]
    if clean != tenant_id:
        clean += "_" + hashlib.sha1(tenant_id.encode()).hexdigest()[:8]
    return clean


def collection_name(tenant_id: str, version: int) -> str:
    return f"kb_{_safe(tenant_id)}_v{version}"


def alias_name(tenant_id: str) -> str:
    return f"kb_{_safe(tenant_id)}_live"


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class DenseRow:
    pk: int
    faq_id: str
    text: str
    vector: np.ndarray


class DenseIndex:
    """Create, fill, search and retire the per-version question collections of Milvus."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    @property
    def client(self) -> MilvusClient:
        return client_for(self.uri)

    def ensure_loaded(self, name: str) -> None:
        """Collections come back 'released' after a restart (or in a new process on a Lite file)."""
        key = (self.uri, name)
        if key in _loaded:
            return
        self.client.load_collection(name)
        _loaded.add(key)

    def create(self, tenant_id: str, version: int, dim: int) -> str:
        name = collection_name(tenant_id, version)
        c = self.client
        if c.has_collection(name):
            c.drop_collection(name)
        schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pk", DataType.INT64, is_primary=True)
        schema.add_field("faq_id", DataType.VARCHAR, max_length=128)
        schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT * 4)
        schema.add_field("text_hash", DataType.VARCHAR, max_length=40)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
        index = c.prepare_index_params()
        index.add_index(field_name="vec", index_type="AUTOINDEX", metric_type="IP")
        c.create_collection(name, schema=schema, index_params=index)
        _loaded.discard((self.uri, name))
        return name

    def insert(self, name: str, rows: list[DenseRow]) -> None:
        c = self.client
        for i in range(0, len(rows), INSERT_BATCH):
            c.insert(name, [
                {"pk": r.pk, "faq_id": r.faq_id, "text": r.text[:MAX_TEXT], "text_hash": text_hash(r.text),
                 "vec": r.vector.tolist()}
                for r in rows[i:i + INSERT_BATCH]
            ])
        c.flush(name)

    def vectors_by_hash(self, name: str, hashes: list[str]) -> dict[str, np.ndarray]:
        """Vectors already computed for these texts (to re-index only what changed)."""
        c = self.client
        if not hashes or not c.has_collection(name):
            return {}
        self.ensure_loaded(name)
        found: dict[str, np.ndarray] = {}
        for i in range(0, len(hashes), QUERY_BATCH):
            chunk = hashes[i:i + QUERY_BATCH]
            rows = c.query(name, filter=f"text_hash in {chunk!r}".replace("'", '"'),
                           output_fields=["text_hash", "vec"], limit=len(chunk) * 4)
            for r in rows:
                found[r["text_hash"]] = np.asarray(r["vec"], dtype=np.float32)
        return found

    def search(self, name: str, vectors: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        """Per query vector: (pk, cosine) best first (vectors are L2-normalised, so IP = cosine).

        Raises DenseUnavailable when the store fails or is slow, and for RETRY_AFTER_S after that.
        """
        down = _down.get(self.uri)
        if down is not None and time.monotonic() < down[0]:
            raise DenseUnavailable(down[1])
        try:
            self.ensure_loaded(name)
            res = self.client.search(name, data=[v.tolist() for v in vectors], limit=k, anns_field="vec",
                                     output_fields=[], search_params={"metric_type": "IP"},
                                     timeout=SEARCH_TIMEOUT_S)
        except Exception as exc:  # pymilvus raises several types (MilvusException, gRPC, timeouts)
            reason = f"{type(exc).__name__}: {str(exc)[:160]}"
            if down is None:
                log.warning("vector store %s unavailable, falling back to BM25: %s", self.uri, reason)
            _down[self.uri] = (time.monotonic() + RETRY_AFTER_S, reason)
            _loaded.discard((self.uri, name))  # a restarted server has it released again
            raise DenseUnavailable(reason) from exc
        if _down.pop(self.uri, None) is not None:
            log.warning("vector store %s is back", self.uri)
        return [[(int(hit["pk"] if "pk" in hit else hit["id"]), float(hit["distance"])) for hit in hits]
                for hits in res]

    def switch_alias(self, tenant_id: str, version: int) -> None:
        c = self.client
        alias = alias_name(tenant_id)
        target = collection_name(tenant_id, version)
        prefix = f"kb_{_safe(tenant_id)}_v"
        exists = any(alias in c.list_aliases(name).get("aliases", [])
                     for name in c.list_collections() if name.startswith(prefix))
        if exists:
            c.alter_alias(target, alias)
        else:
            c.create_alias(target, alias)

    def has(self, tenant_id: str, version: int) -> bool:
        return self.client.has_collection(collection_name(tenant_id, version))

    def drop_versions(self, tenant_id: str, keep: set[int]) -> list[int]:
        """Drop this tenant's version collections not in `keep`; returns the versions dropped."""
        prefix = f"kb_{_safe(tenant_id)}_v"
        dropped = []
        for name in self.client.list_collections():
            if name.startswith(prefix) and name[len(prefix):].isdigit():
                v = int(name[len(prefix):])
                if v not in keep:
                    self.client.drop_collection(name)
                    _loaded.discard((self.uri, name))
                    dropped.append(v)
        return dropped

"""Loads each model role once per process and hands the same instance to every caller.

Which files serve a role is decided by the model registry (a tenant's own serving version, else the
global one), falling back to the shipped default (e.g. `<models_dir>/e5-small` for the embedder).
A promotion swaps the new version in without a restart: the new model is loaded first, then the
reference is replaced, so callers already holding the old instance finish undisturbed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy.exc import SQLAlchemyError

from csbot.config import Settings
from csbot.models.loading import LOAD_LOCK
from csbot.models.registry import GLOBAL_TENANT, ModelRegistry, promoted_channel

if TYPE_CHECKING:
    import redis as redis_sync
    from redis.asyncio import Redis

    from csbot.models.embedder import Embedder
    from csbot.storage.db import Database

log = logging.getLogger(__name__)

T = TypeVar("T")
EMBEDDER_DIR = "e5-small"


class ModelNotAvailable(LookupError):
    """No registry version serves the role and it has no shipped default."""


@dataclass(frozen=True)
class ModelRef:
    """Which files serve a role for a tenant: a registry version, or the shipped default (version_id None)."""

    role: str
    tenant_id: str
    version_id: str | None
    version: str
    path: Path


@dataclass(frozen=True)
class _Slot:
    ref: ModelRef
    obj: Any


class ModelHub:
    """Lazy, thread-safe, load-once access to shared models (the embedder first of all)."""

    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.settings = settings
        self._db = db
        self._own_db: Database | None = None
        self._registry: ModelRegistry | None = None
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}
        #: (role, tenant) -> what serves it now
        self._slots: dict[tuple[str, str], _Slot] = {}
        #: (role, path) -> loaded object, shared by tenants that resolve to the same files
        self._instances: dict[tuple[str, str], Any] = {}
        self._loaders: dict[str, Callable[[Path], Any]] = {}
        self._defaults: dict[str, Path] = {}

    # -- access -------------------------------------------------------------------------------
    def embedder(self, tenant_id: str | None = None) -> Embedder:
        """The sentence encoder serving `tenant_id` (default: the one shared by all tenants)."""

        return self.get(
            "embedder",
            self._load_embedder,
            tenant_id=tenant_id,
            default=self.settings.models_dir / EMBEDDER_DIR,
        )

    def get(
        self,
        role: str,
        loader: Callable[[Path], T],
        *,
        tenant_id: str | None = None,
        default: Path | None = None,
    ) -> T:
        """The loaded model serving `role` for `tenant_id`, loaded once with `loader(path)`.

        Args:
            role: registry role ("embedder", "reranker", "nlu", "chat", "chat-lora").
            loader: builds the ready-to-use object from a model directory; kept for reloads.
            tenant_id: the tenant; None means the version shared by all tenants.
            default: directory used when the registry serves nothing for the role.
        """
        key = (role, tenant_id or GLOBAL_TENANT)
        slot = self._slots.get(key)
        if slot is not None:
            return cast(T, slot.obj)
        with self._key_lock(key):
            slot = self._slots.get(key)
            if slot is not None:
                return cast(T, slot.obj)
            self._loaders[role] = loader
            if default is not None:
                self._defaults[role] = default
            ref = self.resolve(role, key[1])
            obj = self._instance(ref, loader)
            self._slots[key] = _Slot(ref, obj)
            return cast(T, obj)

    def current(self, role: str, tenant_id: str | None = None) -> ModelRef | None:
        """What serves `role` for `tenant_id` in this process (None if not loaded yet)."""
        slot = self._slots.get((role, tenant_id or GLOBAL_TENANT))
        return slot.ref if slot is not None else None

    def resolve(self, role: str, tenant_id: str | None = None) -> ModelRef:
        """Ask the registry which files should serve `role` for `tenant_id` now."""
        tenant = tenant_id or GLOBAL_TENANT
        for owner in dict.fromkeys((tenant, GLOBAL_TENANT)):
            row = self._serving(owner, role)
            if row is not None:
                return ModelRef(role, owner, row.id, row.version, Path(row.path))
        default = self._defaults.get(role)
        if default is None:
            raise ModelNotAvailable(f"no {role} model serves tenant {tenant} and the role has no default")
        return ModelRef(role, GLOBAL_TENANT, None, default.name, default)

    # -- swapping -----------------------------------------------------------------------------
    def reload(self, role: str, tenant_id: str | None = None) -> list[ModelRef]:
        """Re-resolve `role` (for one tenant, or for all when tenant_id is None or global) and swap in
        any new version. Returns the refs that changed."""
        loader = self._loaders.get(role)
        if loader is None:
            return []  # never loaded in this process: the next get() resolves afresh
        everyone = tenant_id in (None, GLOBAL_TENANT)
        changed: list[ModelRef] = []
        for key in [k for k in list(self._slots) if k[0] == role and (everyone or k[1] == tenant_id)]:
            with self._key_lock(key):
                old = self._slots.get(key)
                ref = self.resolve(role, key[1])
                if old is not None and old.ref.path == ref.path:
                    continue
                obj = self._instance(ref, loader)  # load first ...
                self._slots[key] = _Slot(ref, obj)  # ... then swap: in-flight callers keep the old object
                changed.append(ref)
                log.info("%s for %s now served by %s (%s)", role, key[1], ref.version, ref.path)
        self._forget_unused()
        return changed

    async def listen_promotions(self, redis: Redis, ready: asyncio.Event | None = None) -> None:
        """Reload on every `<prefix>:events:model-promoted` message until cancelled; resubscribes after a
        lost Redis connection (and then reloads everything, in case a message was missed)."""
        from redis.exceptions import RedisError

        channel = promoted_channel(self.settings.redis_prefix)
        first = True
        while True:
            pubsub = redis.pubsub()
            try:
                await pubsub.subscribe(channel)
                if not first:
                    for role in list(self._loaders):
                        await asyncio.to_thread(self.reload, role)
                first = False
                if ready is not None:
                    ready.set()
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    await asyncio.to_thread(self._on_message, message.get("data"))
            except (RedisError, OSError) as exc:
                log.warning("promotion listener lost Redis (%s); retrying", exc)
                await asyncio.sleep(1.0)
            finally:
                try:
                    await pubsub.aclose()
                except (RedisError, OSError):
                    pass

    def listen_promotions_in_thread(self, redis: redis_sync.Redis) -> PromotionListener:
        """The same as `listen_promotions`, on a daemon thread (for Celery workers and CLI servers)."""
        listener = PromotionListener(self, redis)
        listener.start()
        return listener

    def _on_message(self, data: Any) -> None:
        try:
            body = json.loads(data)
            self.reload(str(body["role"]), body.get("tenant_id"))
        except Exception:  # a bad message or a failed load must not stop the listener
            log.exception("could not apply model promotion %r", data)

    # -- internals ----------------------------------------------------------------------------
    def _load_embedder(self, path: Path) -> Embedder:
        from csbot.models.embedder import Embedder

        embedder = Embedder(
            path, device=self.settings.models.device, torch_threads=self.settings.models.torch_threads
        )
        with LOAD_LOCK:
            embedder.load()
        return embedder

    def _instance(self, ref: ModelRef, loader: Callable[[Path], Any]) -> Any:
        ikey = (ref.role, str(ref.path))
        with self._key_lock((ref.role, f"path:{ref.path}")):
            if ikey not in self._instances:
                log.info("loading %s %s from %s", ref.role, ref.version, ref.path)
                # loaders that build transformers models hold LOAD_LOCK themselves (a loader may hand
                # the build to a worker thread, which must be able to take the lock)
                self._instances[ikey] = loader(ref.path)
            return self._instances[ikey]

    def _forget_unused(self) -> None:
        with self._lock:
            used = {(s.ref.role, str(s.ref.path)) for s in self._slots.values()}
            for ikey in [k for k in self._instances if k not in used]:
                del self._instances[ikey]

    def _key_lock(self, key: tuple[str, str]) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def _serving(self, tenant_id: str, role: str) -> Any:
        try:
            return self.registry.serving(tenant_id, role)
        except SQLAlchemyError as exc:  # database not migrated yet: only shipped models exist
            log.debug("model registry unavailable (%s); using shipped defaults", exc.__class__.__name__)
            return None

    @property
    def registry(self) -> ModelRegistry:
        if self._registry is None:
            if self._db is None:
                from csbot.storage.db import Database

                self._own_db = self._db = Database(self.settings.database_url)
            self._registry = ModelRegistry(self.settings, self._db)
        return self._registry

    def close(self) -> None:
        if self._own_db is not None:
            self._own_db.dispose()


class PromotionListener(threading.Thread):
    """Daemon thread applying promotion messages to a ModelHub; `stop()` ends it within a second."""

    def __init__(self, hub: ModelHub, redis: redis_sync.Redis) -> None:
        super().__init__(name="model-promotions", daemon=True)
        self.hub = hub
        self.redis = redis
        self.ready = threading.Event()
        self._stop_event = threading.Event()

    def run(self) -> None:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(promoted_channel(self.hub.settings.redis_prefix))
        self.ready.set()
        try:
            while not self._stop_event.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message and message.get("type") == "message":
                    self.hub._on_message(message.get("data"))
        finally:
            pubsub.close()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop_event.set()
        self.join(timeout)

"""Roles and tenants in the operations API: an annotator cannot promote or launch; one tenant's users see
nothing of another's annotations, jobs, turns or models; the audit log records who changed what."""

from __future__ import annotations

from pathlib import Path

import httpx

from csbot.models.registry import ModelRegistry
from csbot.storage.db import Database
from tests.ops_console.conftest import Server, Tenants, bearer, chat


def _candidate(server: Server, db: Database, tenant: str, tmp_path: Path, score: float) -> str:
    d = tmp_path / f"model-{tenant}-{score}"
    d.mkdir()
    (d / "model.json").write_text("{}")
    return ModelRegistry(server.settings, db).register(tenant, "nlu", d, metrics={"intent_f1": score}).id


def test_annotator_cannot_promote_and_only_admin_forces(server: Server, tenants: Tenants, db: Database,
                                                         tmp_path: Path) -> None:
    url = server.url
    good = _candidate(server, db, "acme", tmp_path, 0.9)
    worse = _candidate(server, db, "acme", tmp_path, 0.5)
    r = httpx.post(f"{url}/v1/models/{good}/promote", headers=bearer(tenants.tokens["acme-annotator"]), json={})
    assert r.status_code == 403
    assert ModelRegistry(server.settings, db).get(good).status == "candidate"
    r = httpx.post(f"{url}/v1/models/{good}/promote", headers=bearer(tenants.tokens["acme-operator"]), json={})
    assert r.status_code == 200 and r.json()["status"] == "serving"
    # a worse report is refused, an operator may not force, an admin may
    r = httpx.post(f"{url}/v1/models/{worse}/promote", headers=bearer(tenants.tokens["acme-operator"]), json={})
    assert r.status_code == 409 and "below the serving" in r.json()["detail"]
    r = httpx.post(f"{url}/v1/models/{worse}/promote", headers=bearer(tenants.tokens["acme-operator"]),
                   json={"force": True})
    assert r.status_code == 403
    r = httpx.post(f"{url}/v1/models/{worse}/promote", headers=bearer(tenants.tokens["acme-admin"]), json={"force": True})
    assert r.status_code == 200
    r = httpx.post(f"{url}/v1/models/rollback", headers=bearer(tenants.tokens["acme-annotator"]), json={"role": "nlu"})
    assert r.status_code == 403
    r = httpx.post(f"{url}/v1/training/jobs", headers=bearer(tenants.tokens["acme-annotator"]), json={"kind": "nlu"})
    assert r.status_code == 403
    actions = [(a["actor"], a["action"]) for a in
               httpx.get(f"{url}/v1/audit", headers=bearer(tenants.tokens["acme-admin"])).json()]
    assert ("acme-operator", "model.promote") in actions and ("acme-admin", "model.promote") in actions


def test_a_tenant_sees_nothing_of_another(server: Server, tenants: Tenants, db: Database, tmp_path: Path) -> None:
    url = server.url
    turn = chat(url, tenants.keys["acme"], "iso-1", "hello from acme")
    acme, demo = bearer(tenants.tokens["acme-admin"]), bearer(tenants.tokens["demo-admin"])
    ann = httpx.post(f"{url}/v1/annotations", headers=acme,
                     json={"kind": "reply", "turn_id": turn["turn_id"], "reply": "Hi from acme!"}).json()
    # demo may not annotate acme's turn, nor read, edit or delete acme's annotation
    r = httpx.post(f"{url}/v1/annotations", headers=demo,
                   json={"kind": "reply", "turn_id": turn["turn_id"], "reply": "x"})
    assert r.status_code == 404
    assert httpx.get(f"{url}/v1/annotations", headers=demo).json() == []
    assert httpx.get(f"{url}/v1/annotations/{ann['id']}/versions", headers=demo).status_code == 404
    assert httpx.put(f"{url}/v1/annotations/{ann['id']}", headers=demo,
                     json={"kind": "reply", "query": "q", "reply": "y"}).status_code == 404
    assert httpx.delete(f"{url}/v1/annotations/{ann['id']}", headers=demo).status_code == 404
    assert httpx.get(f"{url}/v1/annotations/unanswered", headers=demo).json() == []
    export = httpx.post(f"{url}/v1/annotations/export", headers=demo, json={"kind": "sft"}).json()
    assert export["n_examples"] == 0
    # models and jobs
    version = _candidate(server, db, "acme", tmp_path, 0.8)
    listed = httpx.get(f"{url}/v1/models", headers=demo, params={"role": "nlu"}).json()["nlu"]
    assert version not in {v["id"] for v in listed}
    assert httpx.post(f"{url}/v1/models/{version}/promote", headers=demo, json={}).status_code == 404
    assert httpx.get(f"{url}/v1/training/jobs", headers=demo).json() == []
    assert all(a["tenant_id"] == "demo" for a in httpx.get(f"{url}/v1/audit", headers=demo).json())
    # acme's own view has them, and an edit is a new version of the same chain
    r = httpx.put(f"{url}/v1/annotations/{ann['id']}", headers=acme, json={"kind": "reply", "reply": "Hello from acme!"})
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["supersedes"] == ann["id"]
    versions = httpx.get(f"{url}/v1/annotations/{r.json()['id']}/versions", headers=acme).json()
    assert [v["version"] for v in versions] == [1, 2] and [v["current"] for v in versions] == [False, True]
    assert [a["correction"]["reply"] for a in httpx.get(f"{url}/v1/annotations", headers=acme).json()] == ["Hello from acme!"]


def test_operations_api_refuses_without_a_token(server: Server, tenants: Tenants) -> None:
    for method, path in (("get", "/v1/annotations"), ("post", "/v1/training/jobs"), ("get", "/v1/models")):
        r = httpx.request(method.upper(), f"{server.url}{path}", json={})
        assert r.status_code == 401

"""Authentication and tenant isolation, for every `/v1` route the app has (read from its route table,
so a route added later is covered or makes this fail until it is classified).

- API-key routes refuse a missing, wrong, malformed or revoked key (401), and an operator token (401);
- console routes refuse a missing, forged, expired or API-key credential and a disabled account (401);
- with the other tenant's key or console user, a route naming one of acme's resources answers 403/404,
  and no answer to the other tenant ever holds acme's data; acme's data is intact afterwards;
- secrets (API keys, passwords, webhook and identity secrets, database passwords) appear in no log
  record and no error body, even when sent where they do not belong (a key in a socket's query string).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from csbot.channels import operators
from csbot.config import Settings
from csbot.models.registry import ModelRegistry
from csbot.storage.channels import ConsoleUser
from tests.security.conftest import PASSWORD, Stack, bearer

MARK = "ACMEMARK7f3a"
#: /v1 routes that take no API key or operator token, and why
PUBLIC = {
    "POST /v1/operator/login": "signs a console user in",
    "POST /v1/widget/session": "a visitor on the shop's page; checked against the tenant's allowed origins",
    "GET /v1/widget/messages": "authenticated by a signed visitor token (tested in tests/csbot/channels)",
    "OPTIONS /v1/widget/{path:path}": "CORS preflight, answers no data",
}
#: WebSocket routes and the credential each takes in its query string
SOCKETS = {"/v1/ws": "api_key", "/v1/operator/ws": "token", "/v1/widget/ws": "token"}
#: a body that passes validation, so a refusal is about who asks, not what is sent
BODIES: dict[str, Any] = {
    "POST /v1/chat": {"session_id": "iso-probe", "text": "你好"},
    "POST /v1/chat/stream": {"session_id": "iso-probe", "text": "你好"},
    "POST /v1/feedback": {"turn_id": "{turn_id}", "rating": "down"},
    "POST /v1/conversations/{conversation_id}/handoff": {},
    "POST /v1/crm/conversations/{conversation_id}/tags": {"add": ["probe"]},
    "POST /v1/crm/contacts/{user_id}/messages": {"text": "probe"},
    "PATCH /v1/crm/contacts/{user_id}": {"attributes": {"probe": 1}},
    "PUT /v1/crm/widget-settings": {"allowed_origins": ["https://probe.example"]},
    "POST /v1/webhooks": {"url": "http://127.0.0.1:9/probe", "events": ["*"]},
    "PATCH /v1/webhooks/{webhook_id}": {"active": False},
    "POST /v1/kb/items": {"id": "probe", "question": "probe?", "answer": "probe"},
    "PUT /v1/kb/items/{faq_id}": {"question": "probe?", "answer": "probe"},
    "POST /v1/kb/publish": {},
    "POST /v1/kb/rollback": {},
    "POST /v1/operator/conversations/{conversation_id}/messages": {"text": "probe"},
    "POST /v1/operator/conversations/{conversation_id}/typing": {"on": True},
    "POST /v1/annotations": {"kind": "reply", "turn_id": "{turn_id}", "reply": "probe"},
    "POST /v1/annotations/bulk": {"items": [{"kind": "reply", "turn_id": "{turn_id}", "reply": "probe"}]},
    "PUT /v1/annotations/{annotation_id}": {"kind": "reply", "reply": "probe"},
    "POST /v1/annotations/export": {"kind": "sft"},
    "POST /v1/training/jobs": {"kind": "nlu"},
    "POST /v1/models/{version_id}/promote": {},
    "POST /v1/models/rollback": {"role": "nlu"},
}
#: one keep-alive client for the hundreds of probe requests (a connection per request costs more than the request)
HTTP = httpx.Client(timeout=60)
#: routes naming an entity by the caller's own name (create-or-replace, erase a user's data): with
#: acme's name, the other tenant acts on its own entity of that name, never acme's (checked at the end)
UPSERTS = {"PUT /v1/kb/items/{faq_id}", "PATCH /v1/crm/contacts/{user_id}", "DELETE /v1/users/{user_id}"}


def v1_routes(app: Any) -> list[tuple[str, str, str]]:
    """(method, path, kind) of every /v1 route; kind is api_key, operator, public or socket."""
    out = []
    for rc in iter_route_contexts(app.routes):
        route = rc.route
        if not rc.path.startswith("/v1/") and rc.path != "/v1":
            continue
        if isinstance(route, APIWebSocketRoute):
            out.append(("WS", rc.path, "socket"))
            continue
        if not isinstance(route, APIRoute):
            continue
        calls = _dependency_calls(route.dependant)
        kind = "operator" if "get_operator" in calls else "api_key" if "get_principal" in calls else "public"
        for method in sorted(route.methods):
            out.append((method, rc.path, kind))
    return out


def _dependency_calls(dependant: Any) -> set[str]:
    names = {getattr(dependant.call, "__name__", "")}
    for sub in dependant.dependencies:
        names |= _dependency_calls(sub)
    return names


@pytest.fixture(scope="module")
def acme(stack: Stack) -> dict[str, str]:
    """Data of tenant acme that the other tenant must never reach; every text holds MARK."""
    url, key, admin = stack.url, bearer(stack.keys["acme"]), bearer(stack.tokens["acme-admin"])
    turn = httpx.post(f"{url}/v1/chat", headers=key, timeout=60,
                      json={"session_id": "acme-s1", "user_id": "acme-user", "text": f"你好 {MARK}"}).json()
    ids = {"turn_id": turn["turn_id"], "conversation_id": turn["conversation_id"], "user_id": "acme-user",
           "delivery_id": "1"}
    r = httpx.patch(f"{url}/v1/crm/contacts/acme-user", headers=key, json={"attributes": {"note": MARK}})
    assert r.status_code == 200, r.text
    r = httpx.post(f"{url}/v1/webhooks", headers=key, json={"url": "http://127.0.0.1:9/acme", "events": ["*"],
                                                             "description": MARK, "secret": f"whsec-{MARK}-xyz"})
    assert r.status_code == 201, r.text
    ids["webhook_id"], ids["webhook_secret"] = r.json()["id"], r.json()["secret"]
    r = httpx.post(f"{url}/v1/kb/items", headers=key, json={"id": "acme-faq", "question": f"{MARK}?", "answer": MARK})
    assert r.status_code == 201, r.text
    ids["faq_id"] = "acme-faq"
    r = httpx.post(f"{url}/v1/annotations", headers=admin,
                   json={"kind": "reply", "turn_id": turn["turn_id"], "reply": f"reply {MARK}"})
    assert r.status_code == 201, r.text
    ids["annotation_id"] = r.json()["id"]
    r = httpx.post(f"{url}/v1/training/jobs", headers=admin, json={"kind": "nlu", "params": {"note": MARK}})
    assert r.status_code == 202, r.text
    ids["job_id"] = r.json()["id"]
    model_dir = stack.settings.data_dir / "acme-model"
    model_dir.mkdir(exist_ok=True)
    (model_dir / "model.json").write_text("{}")
    ids["version_id"] = ModelRegistry(stack.settings, stack.db).register("acme", "nlu", model_dir,
                                                                         metrics={"intent_f1": 0.9}).id
    r = httpx.post(f"{url}/v1/conversations/{turn['conversation_id']}/handoff", headers=key, json={})
    assert r.status_code == 200, r.text
    r = httpx.get(f"{url}/v1/crm/widget-settings", headers=key)
    ids["identity_secret"] = r.json()["identity_secret"]
    return ids


def _request(stack: Stack, method: str, path: str, ids: dict[str, str], headers: dict[str, str]) -> httpx.Response:
    concrete = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)
    body = BODIES.get(f"{method} {path}")
    if body is not None:
        body = json.loads(json.dumps(body).replace("{turn_id}", ids["turn_id"]))
    elif method in ("POST", "PUT", "PATCH"):
        body = {}
    return HTTP.request(method, f"{stack.url}{concrete}", headers=headers, json=body)


def test_every_v1_route_is_classified(stack: Stack) -> None:
    routes = v1_routes(stack.app)
    assert len(routes) > 50
    for method, path, kind in routes:
        if kind == "public":
            assert f"{method} {path}" in PUBLIC, f"{method} {path} takes no credential: protect it or list it in PUBLIC"
        if kind == "socket":
            assert path in SOCKETS, f"WebSocket {path} is new: add its credential to SOCKETS"
        if method in ("POST", "PUT", "PATCH") and kind != "public" and "{" in path:
            # routes that name a resource and take a body need a valid one to test isolation past validation
            op = stack.app.openapi()["paths"][path][method.lower()]
            if "requestBody" in op:
                assert f"{method} {path}" in BODIES, f"add a valid sample body for {method} {path} to BODIES"


def test_api_key_routes_refuse_bad_keys(stack: Stack, acme: dict[str, str]) -> None:
    bad = {
        "missing": {},
        "wrong": bearer("csk_00000000_" + "x" * 32),
        "malformed": bearer("not-a-key"),
        "revoked": bearer(stack.keys["acme_revoked"]),
        "operator token": bearer(stack.tokens["acme-admin"]),
        "basic auth": {"Authorization": "Basic YWNtZTpwdw=="},
    }
    checked = 0
    for method, path, kind in v1_routes(stack.app):
        if kind != "api_key":
            continue
        for what, headers in bad.items():
            r = _request(stack, method, path, acme, headers)
            assert r.status_code == 401, f"{method} {path} with a {what} key: {r.status_code} {r.text[:200]}"
            assert r.json()["error"] == "unauthorized" and r.headers.get("www-authenticate") == "Bearer"
            assert MARK not in r.text
        checked += 1
    assert checked >= 25


def test_console_routes_refuse_bad_tokens(stack: Stack, acme: dict[str, str]) -> None:
    acme_admin = operators.verify_operator_token(stack.settings, stack.tokens["acme-admin"])
    assert acme_admin is not None
    forged = operators.issue_operator_token(
        Settings(environment="test", secret_key="another-installation", data_dir=stack.settings.data_dir),
        acme_admin)
    expired = operators.issue_operator_token(stack.settings, acme_admin, ttl_s=-10)
    # a user of acme whose account is disabled after signing in
    operators.create_console_user(stack.db, "acme", "acme-leaver", PASSWORD, "admin")
    leaver = httpx.post(f"{stack.url}/v1/operator/login",
                        json={"tenant": "acme", "username": "acme-leaver", "password": PASSWORD}).json()["token"]
    with stack.db.session() as s:
        user = s.query(ConsoleUser).filter_by(tenant_id="acme", username="acme-leaver").one()
        user.disabled = True
    bad = {"missing": {}, "forged": bearer(forged), "expired": bearer(expired), "disabled": bearer(leaver),
           "api key": bearer(stack.keys["acme"]), "garbage": bearer("x.y.z")}
    checked = 0
    for method, path, kind in v1_routes(stack.app):
        if kind != "operator":
            continue
        for what, headers in bad.items():
            r = _request(stack, method, path, acme, headers)
            assert r.status_code == 401, f"{method} {path} with a {what} token: {r.status_code} {r.text[:200]}"
            assert MARK not in r.text
        checked += 1
    assert checked >= 20


def test_chat_only_key_and_annotator_are_refused_beyond_their_scope(stack: Stack, acme: dict[str, str]) -> None:
    chat_only = bearer(stack.keys["acme_chat_only"])
    for path in ("/v1/crm/conversations", "/v1/webhooks", "/v1/kb/items", "/v1/crm/widget-settings"):
        r = httpx.get(f"{stack.url}{path}", headers=chat_only)
        assert r.status_code == 403 and "scope" in r.json()["detail"], (path, r.text)
    annotator = bearer(stack.tokens["acme-annotator"])
    r = httpx.get(f"{stack.url}/v1/operator/queue", headers=annotator)
    assert r.status_code == 403


def test_the_other_tenant_reaches_nothing_of_acme(stack: Stack, acme: dict[str, str]) -> None:
    other = {"api_key": bearer(stack.keys["other"]), "operator": bearer(stack.tokens["other-admin"])}
    secrets = [MARK, acme["webhook_secret"], acme["identity_secret"]]
    acme_ids = [acme[k] for k in ("conversation_id", "webhook_id", "annotation_id", "job_id", "version_id")]
    routes = [r for r in v1_routes(stack.app) if r[2] in other]
    # creations last: upserts make the other tenant's own resource of the same name, and a KB item in the
    # other's draft would make its publish encode it (seconds) instead of refusing an empty draft
    routes.sort(key=lambda r: f"{r[0]} {r[1]}" in UPSERTS | {"POST /v1/kb/items"})
    for method, path, kind in routes:
        r = _request(stack, method, path, acme, other[kind])
        label = f"{method} {path} as the other tenant"
        assert r.status_code < 500, f"{label}: {r.status_code} {r.text[:300]}"
        for s in secrets:
            assert s not in r.text, f"{label} shows acme's data: {r.text[:300]}"
        if "{" in path and f"{method} {path}" not in UPSERTS:
            assert r.status_code in (403, 404), f"{label}: {r.status_code} {r.text[:300]}"
        elif "{" not in path:
            leaked = [i for i in acme_ids if i in r.text]
            assert not leaked, f"{label} lists acme's {leaked}"
    # and acme's data is all still there, unchanged
    key, admin = bearer(stack.keys["acme"]), bearer(stack.tokens["acme-admin"])
    conv = httpx.get(f"{stack.url}/v1/crm/conversations/{acme['conversation_id']}", headers=key).json()
    assert conv["status"] == "handoff" and conv["tags"] == [] and MARK in json.dumps(conv, ensure_ascii=False)
    assert httpx.get(f"{stack.url}/v1/crm/contacts/acme-user", headers=key).json()["attributes"]["note"] == MARK
    hook = httpx.get(f"{stack.url}/v1/webhooks/{acme['webhook_id']}", headers=key).json()
    assert hook["active"] is True and hook["description"] == MARK
    assert httpx.get(f"{stack.url}/v1/kb/items/acme-faq", headers=key).json()["answer"] == MARK
    ann = httpx.get(f"{stack.url}/v1/annotations", headers=admin).json()
    assert [a["correction"]["reply"] for a in ann] == [f"reply {MARK}"]
    assert httpx.get(f"{stack.url}/v1/training/jobs/{acme['job_id']}", headers=admin).json()["status"] != "cancelled"
    assert ModelRegistry(stack.settings, stack.db).get(acme["version_id"]).status == "candidate"


def _ws_refused(url: str) -> bool:
    """True when the socket is refused: at the handshake (403) or closed with a 44xx code before any message."""
    try:
        with connect(url, open_timeout=10) as ws:
            try:
                ws.recv(timeout=5)
            except Exception as exc:  # closed by the server
                code = getattr(getattr(exc, "rcvd", None), "code", None)
                return code is not None and 4400 <= code < 4500
            return False
    except InvalidStatus as exc:
        return exc.response.status_code == 403


def test_sockets_refuse_bad_credentials(stack: Stack, acme: dict[str, str]) -> None:
    ws_url = stack.url.replace("http://", "ws://")
    bad = {"/v1/ws": ["", "csk_00000000_" + "x" * 32, stack.keys["acme_revoked"], stack.tokens["acme-admin"]],
           "/v1/operator/ws": ["", "x.y.z", stack.keys["acme"]],
           "/v1/widget/ws": ["", "x.y.z", stack.tokens["acme-admin"], stack.keys["acme"]]}
    assert set(bad) == set(SOCKETS)
    for path, creds in bad.items():
        for cred in creds:
            assert _ws_refused(f"{ws_url}{path}?{SOCKETS[path]}={cred}"), f"{path} accepted {cred[:12]}..."


def test_operator_events_stay_within_the_tenant(stack: Stack, acme: dict[str, str]) -> None:
    ws_url = stack.url.replace("http://", "ws://")
    with connect(f"{ws_url}/v1/operator/ws?token={stack.tokens['other-admin']}") as other_ws, \
            connect(f"{ws_url}/v1/operator/ws?token={stack.tokens['acme-admin']}") as acme_ws:
        r = httpx.post(f"{stack.url}/v1/chat", headers=bearer(stack.keys["acme"]),
                       json={"session_id": "acme-s2", "text": f"你好 {MARK}"}, timeout=60)
        httpx.post(f"{stack.url}/v1/conversations/{r.json()['conversation_id']}/handoff",
                   headers=bearer(stack.keys["acme"]), json={"reason": MARK}).raise_for_status()
        seen = json.loads(acme_ws.recv(timeout=10))
        assert seen["tenant_id"] == "acme"
        with pytest.raises(TimeoutError):
            other_ws.recv(timeout=1.5)


CLIENT_LOGGERS = ("websockets.client", "httpx", "httpcore", "hpack")


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # the test's own HTTP clients log what they send; only the server's records count
        if not record.name.startswith(CLIENT_LOGGERS):
            self.lines.append(self.format(record))


@pytest.fixture
def captured_logs() -> Iterator[_Capture]:
    """Every record of the process at DEBUG, uvicorn's access log included (as `csbot serve` writes it)."""
    handler = _Capture()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger(), logging.getLogger("uvicorn.access"), logging.getLogger("uvicorn.error")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    yield handler
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)


def test_secrets_never_appear_in_logs_or_errors(stack: Stack, acme: dict[str, str],
                                                captured_logs: _Capture) -> None:
    url = stack.url
    wrong_key = "csk_deadbeef_" + "W" * 32
    wrong_password = "Sup3r-secret-guess!"
    bodies: list[str] = []
    for headers in (bearer(wrong_key), bearer(stack.keys["acme_revoked"])):
        bodies.append(httpx.post(f"{url}/v1/chat", headers=headers, json={"session_id": "s", "text": "x"}).text)
    bodies.append(httpx.post(f"{url}/v1/operator/login",
                             json={"tenant": "acme", "username": "acme-admin", "password": wrong_password}).text)
    bodies.append(httpx.post(f"{url}/v1/operator/login",  # too long: a validation error must not echo it
                             json={"tenant": "acme", "username": "acme-admin", "password": wrong_password * 20}).text)
    bodies.append(httpx.post(f"{url}/v1/webhooks", headers=bearer(stack.keys["acme"]),  # invalid: secret echoed?
                             json={"url": "not a url", "events": ["*"], "secret": acme["webhook_secret"]}).text)
    # credentials in a query string end up in access logs unless masked
    ws_url = url.replace("http://", "ws://")
    with connect(f"{ws_url}/v1/ws?api_key={stack.keys['acme']}") as ws:
        ws.send(json.dumps({"type": "message", "session_id": "s-log", "text": "你好"}))
        ws.recv(timeout=30)
    assert _ws_refused(f"{ws_url}/v1/ws?api_key={stack.keys['acme_revoked']}")
    with connect(f"{ws_url}/v1/operator/ws?token={stack.tokens['acme-operator']}"):
        pass
    logs = "\n".join(captured_logs.lines)
    assert "/v1/ws?api_key=" in logs or "/v1/ws" in logs, "the access log was not captured"
    secrets = {"API key": stack.keys["acme"], "revoked key": stack.keys["acme_revoked"], "wrong key": wrong_key,
               "password": wrong_password, "console password": PASSWORD, "webhook secret": acme["webhook_secret"],
               "identity secret": acme["identity_secret"], "operator token": stack.tokens["acme-operator"],
               "secret key": stack.settings.secret_key.get_secret_value()}
    for what, value in secrets.items():
        assert value not in logs, f"the {what} is in the logs"
        for body in bodies:
            assert value not in body, f"the {what} is in an error body: {body[:300]}"


def test_database_password_is_not_shown(tmp_path: Any, captured_logs: _Capture) -> None:
    """A database URL's password is masked in `config show` and absent from the errors of a database outage."""
    from csbot.api.app import create_app
    from csbot.bots import BotRegistry
    from tests.security.conftest import free_port, module_settings, serve

    password = "pg-Pa55word-do-not-show"
    st = module_settings(tmp_path, "csbot-test-dbpw",
                         database_url=f"postgresql+psycopg://csbot:{password}@127.0.0.1:{free_port()}/csbot")
    assert password not in json.dumps(st.masked())
    with serve(create_app(st, registry=BotRegistry(bots={}), plugins=False)) as url:
        ready = httpx.get(f"{url}/readyz")
        chat = httpx.post(f"{url}/v1/chat", headers=bearer("csk_00000000_" + "x" * 32),
                          json={"session_id": "s", "text": "x"})
    assert ready.status_code == 503 and chat.status_code == 503, (ready.text, chat.text)
    assert "database is unavailable" in chat.json()["detail"]
    for text in (ready.text, chat.text, "\n".join(captured_logs.lines)):
        assert password not in text

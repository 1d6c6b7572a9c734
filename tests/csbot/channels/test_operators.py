"""Console users: passwords, sign-in over the API, operator tokens and roles, and the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from csbot.channels import operators
from csbot.config import Settings
from csbot.storage.db import Database
from csbot.storage.models import Tenant


def test_password_is_stored_hashed_and_checked(db: Database, tenant: Tenant) -> None:
    user = operators.create_console_user(db, "acme", "bob", "s3cret-pass", "admin", "Bob")
    assert "s3cret-pass" not in user.password_hash and user.password_hash.startswith("scrypt$")
    assert operators.authenticate(db, "acme", "bob", "s3cret-pass") is not None
    assert operators.authenticate(db, "acme", "bob", "wrong-pass") is None
    assert operators.authenticate(db, "other", "bob", "s3cret-pass") is None


@pytest.mark.parametrize(("username", "password", "role"), [
    ("bob", "short", "operator"),
    ("bad name", "long enough", "operator"),
    ("bob", "long enough", "root"),
])
def test_create_user_refuses_bad_input(db: Database, tenant: Tenant, username: str, password: str, role: str) -> None:
    with pytest.raises(operators.OperatorError):
        operators.create_console_user(db, "acme", username, password, role)


def test_duplicate_username_per_tenant_is_refused(db: Database, tenant: Tenant) -> None:
    operators.create_console_user(db, "acme", "bob", "long enough", "operator")
    with pytest.raises(operators.OperatorError, match="already exists"):
        operators.create_console_user(db, "acme", "bob", "long enough", "operator")
    operators.create_console_user(db, "other", "bob", "long enough", "operator")


def test_token_round_trip_and_tampering(settings: Settings, db: Database, tenant: Tenant) -> None:
    user = operators.create_console_user(db, "acme", "bob", "long enough", "admin", "Bob")
    token = operators.issue_operator_token(settings, user)
    ident = operators.verify_operator_token(settings, token)
    assert ident == operators.OperatorIdentity(user.id, "acme", "bob", "admin", "Bob")
    body, mac = token.split(".")
    forged = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + mac
    assert operators.verify_operator_token(settings, forged) is None
    expired = operators.issue_operator_token(settings, user, ttl_s=-1)
    assert operators.verify_operator_token(settings, expired) is None
    other = settings.model_copy(update={"secret_key": type(settings.secret_key)("another-secret")})
    assert operators.verify_operator_token(other, token) is None


def test_login_and_me_over_the_api(client: TestClient, operator_user: dict[str, str]) -> None:
    r = client.post("/v1/operator/login", json=operator_user)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["role"] == "operator" and body["display_name"] == "小爱"
    me = client.get("/v1/operator/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.json()["username"] == "alice"
    assert client.get("/v1/operator/me").status_code == 401
    assert client.get("/v1/operator/me", headers={"Authorization": "Bearer nonsense.token"}).status_code == 401


def test_wrong_password_then_throttled(client: TestClient, operator_user: dict[str, str]) -> None:
    bad = dict(operator_user, password="wrong password")
    codes = [client.post("/v1/operator/login", json=bad).status_code for _ in range(11)]
    assert codes[:10] == [401] * 10 and codes[10] == 429
    r = client.post("/v1/operator/login", json=operator_user)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0


def test_disabled_account_token_stops_working(client: TestClient, db: Database, operator_user: dict[str, str]) -> None:
    from csbot.storage.channels import ConsoleUser

    token = client.post("/v1/operator/login", json=operator_user).json()["token"]
    with db.session() as s:
        for u in s.query(ConsoleUser).filter_by(username="alice"):
            u.disabled = True
    assert client.get("/v1/operator/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.post("/v1/operator/login", json=operator_user).status_code == 401


def test_cli_user_create_then_login(settings: Settings, db: Database, tenant: Tenant, tmp_path: Path) -> None:
    env = {"CSBOT_DATA_DIR": str(tmp_path), "CSBOT_DATABASE_URL": settings.database_url, "PATH": "/usr/bin:/bin"}
    csbot = str(Path(sys.executable).with_name("csbot"))
    done = subprocess.run([csbot, "user", "create", "--tenant", "acme", "--username", "carol", "--role", "admin",
                           "--password", "pass-for-carol"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert operators.authenticate(db, "acme", "carol", "pass-for-carol").role == "admin"  # type: ignore[union-attr]
    dup = subprocess.run([csbot, "user", "create", "--tenant", "acme", "--username", "carol", "--role", "admin",
                          "--password", "pass-for-carol"], env=env, capture_output=True, text=True, timeout=60)
    assert dup.returncode == 2 and "already exists" in dup.stderr

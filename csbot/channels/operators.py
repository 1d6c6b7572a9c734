"""Console users (admin, operator, annotator): passwords, sign-in and operator tokens.

The operator API and the console both authenticate people with these; API keys stay for machines.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Literal, cast

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from csbot.channels import signing
from csbot.config import Settings
from csbot.storage.channels import ConsoleUser
from csbot.storage.db import Database
from csbot.storage.models import Tenant

Role = Literal["admin", "operator", "annotator"]
ROLES: tuple[Role, ...] = ("admin", "operator", "annotator")
USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
TOKEN_PURPOSE = "operator"
#: an operator token is valid this long (a working shift)
TOKEN_TTL_S = 12 * 3600
# scrypt cost: ~50 ms per check on one core, 16 MiB memory
_N, _R, _P = 2**14, 8, 1


class OperatorError(ValueError):
    pass


@dataclass(frozen=True)
class OperatorIdentity:
    user_id: str
    tenant_id: str
    username: str
    role: Role
    display_name: str


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt, digest = stored.split("$")
        if algo != "scrypt":
            return False
        got = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(digest) // 2, maxmem=64 * 1024 * 1024)
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


# a fixed hash to compare against when the user does not exist, so timing does not reveal usernames
_DUMMY_HASH = hash_password(secrets.token_hex(8))


def create_console_user(db: Database, tenant_id: str, username: str, password: str, role: str,
                        display_name: str = "") -> ConsoleUser:
    """Create a console user; raises OperatorError on a bad role, name, short password or duplicate."""
    if role not in ROLES:
        raise OperatorError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    if not USERNAME.match(username):
        raise OperatorError(f"invalid username {username!r}: 1-64 letters, digits, '_', '.', '@' or '-'")
    if len(password) < 8:
        raise OperatorError("the password must have at least 8 characters")
    with db.session() as s:
        if s.get(Tenant, tenant_id) is None:
            raise OperatorError(f"unknown tenant {tenant_id!r}")
        user = ConsoleUser(tenant_id=tenant_id, username=username, password_hash=hash_password(password),
                           role=role, display_name=display_name or username)
        try:
            with s.begin_nested():
                s.add(user)
        except IntegrityError as exc:
            raise OperatorError(f"user {username!r} already exists in tenant {tenant_id!r}") from exc
        return user


def set_password(db: Database, tenant_id: str, username: str, password: str) -> bool:
    if len(password) < 8:
        raise OperatorError("the password must have at least 8 characters")
    with db.session() as s:
        user = s.scalar(select(ConsoleUser).where(ConsoleUser.tenant_id == tenant_id,
                                                  ConsoleUser.username == username))
        if user is None:
            return False
        user.password_hash = hash_password(password)
        return True


def authenticate(db: Database, tenant_id: str, username: str, password: str) -> ConsoleUser | None:
    """The user when the password is right and the account enabled, else None."""
    with db.session() as s:
        user = s.scalar(select(ConsoleUser).where(ConsoleUser.tenant_id == tenant_id,
                                                  ConsoleUser.username == username))
    if user is None:
        check_password(password, _DUMMY_HASH)
        return None
    if not check_password(password, user.password_hash) or user.disabled:
        return None
    return user


def get_user(db: Database, user_id: str) -> ConsoleUser | None:
    with db.session() as s:
        return s.get(ConsoleUser, user_id)


def list_users(db: Database, tenant_id: str) -> list[ConsoleUser]:
    with db.session() as s:
        return list(s.scalars(select(ConsoleUser).where(ConsoleUser.tenant_id == tenant_id)
                              .order_by(ConsoleUser.username)))


def identity_of(user: ConsoleUser) -> OperatorIdentity:
    return OperatorIdentity(user.id, user.tenant_id, user.username, cast(Role, user.role),
                            user.display_name or user.username)


def issue_operator_token(settings: Settings, user: ConsoleUser | OperatorIdentity,
                         ttl_s: float = TOKEN_TTL_S) -> str:
    ident = user if isinstance(user, OperatorIdentity) else identity_of(user)
    return signing.sign(settings, TOKEN_PURPOSE, {"uid": ident.user_id, "tid": ident.tenant_id,
                                                  "u": ident.username, "r": ident.role,
                                                  "n": ident.display_name}, ttl_s)


def verify_operator_token(settings: Settings, token: str) -> OperatorIdentity | None:
    """The identity in a valid, unexpired operator token, else None (the account is not re-read)."""
    p = signing.verify(settings, TOKEN_PURPOSE, token)
    if p is None or p.get("r") not in ROLES:
        return None
    return OperatorIdentity(str(p["uid"]), str(p["tid"]), str(p["u"]), cast(Role, p["r"]), str(p.get("n", "")))


def token_expiry(settings: Settings, token: str) -> int | None:
    p = signing.verify(settings, TOKEN_PURPOSE, token)
    return int(p["exp"]) if p else None

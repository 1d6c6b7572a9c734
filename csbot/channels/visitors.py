"""Widget visitors: signed visitor tokens and identity validation of the host site's users.

A host site proves who its logged-in user is with `user_hash = HMAC-SHA256(key=tenant identity
secret, msg=user_id)` computed on its server (as in Chatwoot and Intercom); a wrong hash is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from csbot.channels import signing
from csbot.config import Settings

TOKEN_PURPOSE = "visitor"


@dataclass(frozen=True)
class VisitorIdentity:
    tenant_id: str
    visitor_id: str
    #: the host site's verified user id, None for an anonymous visitor
    user_id: str | None
    locale: str | None = None

    @property
    def session_id(self) -> str:
        """One conversation per verified user (across devices), or per anonymous visitor."""
        if self.user_id:
            return "wu:" + hashlib.sha256(self.user_id.encode("utf-8")).hexdigest()[:32]
        return "w:" + self.visitor_id


def user_hash(identity_secret: str, user_id: str) -> str:
    """What the host site's server computes for its logged-in user."""
    return hmac.new(identity_secret.encode("utf-8"), user_id.encode("utf-8"), hashlib.sha256).hexdigest()


def check_user_hash(identity_secret: str, user_id: str, given: str) -> bool:
    if not identity_secret or not given:
        return False
    return hmac.compare_digest(user_hash(identity_secret, user_id), given.strip().lower())


def new_visitor_id() -> str:
    return secrets.token_urlsafe(16).replace("-", "A").replace("_", "B")


def issue_visitor_token(settings: Settings, ident: VisitorIdentity, ttl_s: float) -> str:
    return signing.sign(settings, TOKEN_PURPOSE, {"t": ident.tenant_id, "v": ident.visitor_id, "u": ident.user_id,
                                                  "l": ident.locale}, ttl_s)


def verify_visitor_token(settings: Settings, token: str) -> VisitorIdentity | None:
    p = signing.verify(settings, TOKEN_PURPOSE, token)
    if p is None or not isinstance(p.get("t"), str) or not isinstance(p.get("v"), str):
        return None
    return VisitorIdentity(p["t"], p["v"], p.get("u"), p.get("l"))


def token_expiry(settings: Settings, token: str) -> int:
    p = signing.verify(settings, TOKEN_PURPOSE, token)
    return int(p["exp"]) if p else 0

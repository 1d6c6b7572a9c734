"""Short signed tokens (visitor and operator) made with the installation's secret key.

Hand-written on the standard library's `hmac` rather than a JWT library: the tokens never leave
csbot's own server and clients, so the payload format is ours and no dependency is needed.
A token is `<base64url(JSON payload)>.<base64url(HMAC-SHA256)>`; the HMAC key is derived per
purpose, so a visitor token can never pass as an operator token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from csbot.config import Settings


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(settings: Settings, purpose: str) -> bytes:
    secret = settings.secret_key.get_secret_value().encode("utf-8")
    return hmac.new(secret, f"csbot-token:{purpose}".encode(), hashlib.sha256).digest()


def sign(settings: Settings, purpose: str, payload: dict[str, Any], ttl_s: float) -> str:
    """A token carrying `payload` plus an expiry (`exp`, unix seconds)."""
    body = dict(payload, exp=int(time.time() + ttl_s))
    raw = _b64(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    mac = hmac.new(_key(settings, purpose), raw.encode("ascii"), hashlib.sha256).digest()
    return f"{raw}.{_b64(mac)}"


def verify(settings: Settings, purpose: str, token: str) -> dict[str, Any] | None:
    """The payload of a valid, unexpired token for `purpose`, else None."""
    if not token or len(token) > 4096 or token.count(".") != 1:
        return None
    raw, mac = token.split(".")
    expected = hmac.new(_key(settings, purpose), raw.encode("ascii", "replace"), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _unb64(mac)):
            return None
        payload = json.loads(_unb64(raw))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int) or payload["exp"] < time.time():
        return None
    return payload

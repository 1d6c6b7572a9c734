"""Business actions: the HTTP calls a task makes to the tenant's backend (httpx, async).

Timeouts and connection errors are retried as the domain says; the caller gets a typed result
that tells a timeout (offer retry / handoff) from a refusal (a 4xx the domain maps to a response).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx

from taskbot.domain import ActionDef
from taskbot.nlg import lookup_path, render_template

log = logging.getLogger(__name__)


@dataclass
class ActionResult:
    ok: bool
    status: int | None = None
    data: dict[str, object] = field(default_factory=dict)
    timeout: bool = False
    error: str = ""
    attempts: int = 0
    ms: float = 0.0

    def variables(self, action: ActionDef) -> dict[str, object]:
        """The response values the domain's `result` mapping names."""
        return {name: lookup_path(self.data, path) for name, path in action.result.items()}


class ActionError(RuntimeError):
    pass


def build_request(action: ActionDef, variables: Mapping[str, object]) -> tuple[str, dict[str, object] | None]:
    """Path (values URL-quoted) and JSON body (empty values left out) for one call."""
    quoted = {k: (quote(str(v), safe="") if isinstance(v, str | int | float) else v) for k, v in variables.items()}
    path = render_template(action.path, quoted)
    body: dict[str, object] | None = None
    if action.method != "GET":
        body = {}
        for key, template in action.body.items():
            value = render_template(template, variables)
            if value == "":
                continue
            body[key] = _number_if_numeric(key, value, template, variables)
    return path, body


def _number_if_numeric(key: str, value: str, template: str, variables: Mapping[str, object]) -> object:
    # amounts travel as numbers; identifiers (order ids are digits too) stay strings
    if key in {"amount", "refund_amount", "total", "qty"}:
        try:
            return float(value)
        except ValueError:
            return value
    return value


async def run_action(
    action: ActionDef,
    base_url: str,
    variables: Mapping[str, object],
    client: httpx.AsyncClient | None = None,
) -> ActionResult:
    """Call the backend; retry timeouts, connection errors and 5xx answers `action.retries` times."""
    if not base_url:
        return ActionResult(ok=False, error="no shop_url configured for this tenant")
    path, body = build_request(action, variables)
    url = base_url.rstrip("/") + path
    own = client is None
    http = client or httpx.AsyncClient()
    start = time.perf_counter()
    result = ActionResult(ok=False)
    try:
        for attempt in range(action.retries + 1):
            result.attempts = attempt + 1
            try:
                resp = await http.request(action.method, url, json=body, timeout=action.timeout_s)
            except httpx.TimeoutException:
                result = ActionResult(ok=False, timeout=True, error="timeout", attempts=attempt + 1)
                log.warning("action %s %s timed out (attempt %d)", action.method, path, attempt + 1)
                continue
            except httpx.TransportError as exc:
                result = ActionResult(ok=False, timeout=True, error=f"unreachable: {exc}", attempts=attempt + 1)
                log.warning("action %s %s failed: %s", action.method, path, exc)
                await asyncio.sleep(0.2)
                continue
            data = _json(resp)
            result = ActionResult(ok=resp.is_success, status=resp.status_code, data=data, attempts=attempt + 1)
            if resp.status_code >= 500:
                result.error = f"server error {resp.status_code}"
                continue
            break
    finally:
        if own:
            await http.aclose()
    result.ms = round((time.perf_counter() - start) * 1000, 1)
    return result


def _json(resp: httpx.Response) -> dict[str, object]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {"data": data}

"""Schemathesis against our own OpenAPI schema, on a real server: no input it can derive from the schema,
valid or not, gets a 5xx, an undocumented status, a wrong content type, or a body that breaks the
documented response model.

Every operation is fuzzed with authentication (an admin API key, or an admin operator token for the
console routes, chosen from the operation's declared security scheme), so generation reaches past 401.
The example count is bounded (FUZZ_EXAMPLES per operation and mode) to stay within the CI budget; raise
CSBOT_FUZZ_EXAMPLES for a deeper local run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from csbot.api.server import uvicorn_options
from csbot.channels.config import ChannelSettings
from tests.security.conftest import Stack, add_tenants, build_app, module_settings, serve

FUZZ_EXAMPLES = int(os.environ.get("CSBOT_FUZZ_EXAMPLES", "6"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Like `stack`, with the per-key and per-address rate limits off so generation is not cut short by 429s
    (the limits themselves are tested in test_abuse.py)."""
    import uuid

    from csbot.storage.db import Database
    from csbot.storage.migrate import upgrade
    from tests.conftest import clear_redis_prefix

    tmp = tmp_path_factory.mktemp("fuzz")
    prefix = f"csbot-test-{uuid.uuid4().hex[:10]}"
    st = module_settings(tmp, prefix)
    upgrade(st.database_url)
    db = Database(st.database_url)
    app = build_app(st)
    app.state.channel_settings = ChannelSettings(api_key_requests_per_min=0, sessions_per_min=0,
                                                 visitor_messages_per_min=0, login_attempts_per_5min=0,
                                                 dispatcher=False)
    try:
        with serve(app, **uvicorn_options(st)) as url:
            s = Stack(url, app, st, db)
            add_tenants(s, "acme")
            yield s
    finally:
        db.dispose()
        clear_redis_prefix(prefix)


def _auth_for(operation: Any, stack: Stack) -> dict[str, str]:
    schemes = {name for req in operation.definition.raw.get("security", []) for name in req}
    if "OperatorToken" in schemes:
        return {"Authorization": f"Bearer {stack.tokens['acme-admin']}"}
    if "ApiKey" in schemes:
        return {"Authorization": f"Bearer {stack.keys['acme']}"}
    return {}


def _fuzz(operation: Any, mode: GenerationMode, url: str, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        case.call_and_validate(base_url=url, headers=headers, checks=CHECKS, timeout=60)

    run()


@pytest.mark.slow
def test_no_input_breaks_the_api(fuzz_stack: Stack) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_stack.url}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        headers = _auth_for(operation, fuzz_stack)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, fuzz_stack.url, headers)
            except Unsatisfiable:  # nothing invalid to send (no parameters, no body): nothing to test
                assert mode is GenerationMode.NEGATIVE, operation.label
            except BaseException as exc:  # noqa: B036 (hypothesis raises groups) collect every failure
                failures.append(f"{operation.label} [{mode.value}]: {str(exc)[:1500]}")
    assert operations > 50, f"only {operations} operations in the schema"
    assert not failures, "\n\n".join(failures)

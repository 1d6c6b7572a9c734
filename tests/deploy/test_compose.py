"""deploy/compose: the Compose file against the Compose Specification schema, and its invariants.

No Docker engine (nor the compose plugin) runs here, so `docker compose config` cannot; the schema
check uses the compose-spec JSON schema that check-jsonschema ships, on the file as written and
after interpolation with the .env.example values (as compose would resolve it).
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

from csbot.api.routes import chat, health, operator, widget

REPO = Path(__file__).resolve().parents[2]
COMPOSE_DIR = REPO / "deploy" / "compose"
COMPOSE = COMPOSE_DIR / "compose.yaml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
SENTINEL = "from-env-"  # marks a value that came from the .env file


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    """The compose-spec validator, built once (`jsonschema.validate` re-checks the schema per call)."""
    schema = _compose_schema()
    return jsonschema.validators.validator_for(schema)(schema)


def _compose_schema() -> dict:
    pytest.importorskip(
        "check_jsonschema", reason="check-jsonschema (dev extra) ships the compose-spec schema"
    )
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads(vendor.joinpath("compose-spec.json").read_text(encoding="utf-8"))


def _dotenv(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


class MissingVariable(Exception):
    pass


# Compose's interpolation (${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error},
# ${VAR:+alt}, $VAR, $$) written out here because no maintained PyPI package exposes it without a
# Docker engine; the rules are the Compose Specification's "Interpolation" section.
_VAR = re.compile(
    r"\$(?:\$|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def _interpolate(text: str, env: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group("braced") or m.group("bare")
        op, arg = m.group("op") or "", m.group("arg") or ""
        value = env.get(name)
        unset_or_empty = value is None or (value == "" and op.startswith(":"))
        if op in (":?", "?") and unset_or_empty:
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and unset_or_empty:
            return _interpolate(arg, env)
        if op in (":+", "+"):
            return "" if unset_or_empty else _interpolate(arg, env)
        return value or ""

    return _VAR.sub(sub, text)


def _walk_strings(node: object, env: dict[str, str]) -> object:
    if isinstance(node, dict):
        return {k: _walk_strings(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk_strings(v, env) for v in node]
    if isinstance(node, str):
        return _interpolate(node, env)
    return node


def _filled_env() -> dict[str, str]:
    """.env.example with every empty value (the secrets) replaced by a marked stand-in."""
    return {k: v or f"{SENTINEL}{k.lower()}" for k, v in _dotenv(ENV_EXAMPLE).items()}


def _resolved() -> dict:
    return _walk_strings(yaml.safe_load(COMPOSE.read_text(encoding="utf-8")), _filled_env())  # type: ignore[return-value]


def _routes(router) -> set[str]:  # type: ignore[no-untyped-def]
    return {r.path for r in router.routes}


def test_compose_file_validates_against_the_compose_spec() -> None:
    validator = _validator()
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    validator.validate(raw)
    resolved = _resolved()
    validator.validate(resolved)
    # the interpolated numbers are numbers again (compose converts them the same way)
    assert int(resolved["services"]["api"]["deploy"]["replicas"]) >= 2


def test_schema_check_catches_a_broken_file() -> None:
    """The check above can fail: a misspelled key and a wrong type are rejected."""
    validator = _validator()
    broken = _resolved()
    broken["services"]["api"]["helthcheck"] = broken["services"]["api"].pop("healthcheck")
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)
    broken = _resolved()
    broken["services"]["redis"]["ports"] = {"6379": 6379}
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


def test_required_secrets_must_be_set_before_compose_starts() -> None:
    """With .env.example copied as is (secrets empty), interpolation stops on the first missing secret."""
    with pytest.raises(MissingVariable, match="set .* in .env"):
        _walk_strings(yaml.safe_load(COMPOSE.read_text(encoding="utf-8")), _dotenv(ENV_EXAMPLE))
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE.read_text(encoding="utf-8")))
    assert {"CSBOT_SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "MINIO_ROOT_PASSWORD"} <= required
    example = _dotenv(ENV_EXAMPLE)
    assert all(example.get(k) == "" for k in required), (
        "every required secret is listed in .env.example, empty"
    )


def test_no_secret_value_in_the_compose_file(no_literal_secrets) -> None:  # type: ignore[no-untyped-def]
    services = _resolved()["services"]
    for name, svc in services.items():
        env = svc.get("environment") or {}
        assert isinstance(env, dict), f"{name}: environment as a mapping"
        bad = no_literal_secrets(env, lambda v: v == "" or v.startswith(SENTINEL))
        assert not bad, f"service {name}: {bad}"
    text = COMPOSE.read_text(encoding="utf-8")
    assert "minioadmin" not in text, "MinIO default credentials in the file"
    # the secret example stays a template: no value for any secret
    example = _dotenv(ENV_EXAMPLE)
    assert not no_literal_secrets(example), "deploy/compose/.env.example holds a secret value"


def test_every_long_running_service_has_a_health_check() -> None:
    services = _resolved()["services"]
    one_shot = {n for n, s in services.items() if s.get("restart") == "no"}
    assert one_shot == {"migrate"}
    for name, svc in services.items():
        if name in one_shot:
            continue
        test = (svc.get("healthcheck") or {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"
    # the API waits for the migration to have finished, and for its stores to be healthy
    api_deps = services["api"]["depends_on"]
    assert api_deps["migrate"]["condition"] == "service_completed_successfully"
    assert api_deps["redis"]["condition"] == api_deps["milvus"]["condition"] == "service_healthy"
    assert services["milvus"]["depends_on"]["etcd"]["condition"] == "service_healthy"


def test_api_health_checks_use_the_real_routes() -> None:
    services = _resolved()["services"]
    probe_paths = set(
        re.findall(r"127\.0\.0\.1:8000(/[a-z]+)", " ".join(services["api"]["healthcheck"]["test"]))
    )
    assert probe_paths == {"/readyz"}
    assert probe_paths <= _routes(health.router)
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    assert set(re.findall(r"127\.0\.0\.1:8000(/[a-z]+)", dockerfile)) <= _routes(health.router)


def test_csbot_keys_are_settings_fields(check_keys) -> None:  # type: ignore[no-untyped-def]
    services = _resolved()["services"]
    keys = {k for s in services.values() for k in (s.get("environment") or {}) if k.startswith("CSBOT_")}
    check_keys(keys, "deploy/compose/compose.yaml")
    check_keys({k for k in _dotenv(ENV_EXAMPLE) if k.startswith("CSBOT_")}, "deploy/compose/.env.example")
    # external stores are configured, so `csbot serve` starts no embedded Redis / Milvus Lite
    env = services["api"]["environment"]
    assert env["CSBOT_REDIS_URL"].startswith("redis://") and env["CSBOT_MILVUS_URI"] == "http://milvus:19530"
    assert env["CSBOT_DATABASE_URL"].startswith("postgresql+psycopg://")


def test_gpu_services_reserve_a_gpu_and_workers_use_their_queues() -> None:
    services = _resolved()["services"]
    for name in ("worker-gpu", "vllm"):
        devices = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert any("gpu" in d["capabilities"] for d in devices), name
        assert services[name]["profiles"] == ["gpu"]
    assert services["worker-cpu"]["command"][:4] == ["csbot", "worker", "--queues", "cpu"]
    assert services["worker-gpu"]["command"][:4] == ["csbot", "worker", "--queues", "gpu"]
    assert "devices" not in str(services["worker-cpu"].get("deploy")), "the CPU worker holds no GPU"


def test_vllm_serves_the_shared_config_with_lora() -> None:
    services = _resolved()["services"]
    vllm = services["vllm"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in vllm["volumes"]}
    assert (COMPOSE_DIR / mounts["/etc/vllm/vllm.yaml"]).resolve() == REPO / "deploy" / "vllm" / "vllm.yaml"
    assert vllm["command"][1:] == ["--config", "/etc/vllm/vllm.yaml"]
    config = yaml.safe_load((REPO / "deploy" / "vllm" / "vllm.yaml").read_text(encoding="utf-8"))
    assert config["enable-lora"] is True
    assert vllm["environment"]["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    # adapters are loaded by path: vLLM sees the registry where csbot writes it
    api_mounts = {v.split(":")[1]: v.split(":")[0] for v in services["api"]["volumes"]}
    assert mounts["/opt/csbot/models/registry"] == api_mounts["/opt/csbot/models/registry"]


def test_proxy_streams_without_buffering_on_the_real_streaming_routes() -> None:
    conf = (COMPOSE_DIR / "nginx.conf").read_text(encoding="utf-8")
    blocks = dict(re.findall(r"location\s+([^{]+?)\s*\{(.*?)\}", conf, flags=re.S))
    sse = blocks["= /v1/chat/stream"]
    assert "proxy_buffering off" in sse
    assert "/chat/stream" in {p.removeprefix("/v1") for p in _routes(chat.router)}
    ws_pattern = next(v for k, v in blocks.items() if "ws" in k)
    assert "proxy_buffering off" in ws_pattern
    ws_location = next(k for k in blocks if "ws" in k).removeprefix("~").strip()
    real_ws = {
        r.path
        for router in (chat.router, widget.router, operator.router)
        for r in router.routes
        if type(r).__name__ == "APIWebSocketRoute"
    }
    assert real_ws == {"/v1/ws", "/v1/widget/ws", "/v1/operator/ws"}
    assert all(re.match(ws_location, p) for p in real_ws), (ws_location, real_ws)
    assert "proxy_set_header Upgrade $http_upgrade" in conf

"""One typed settings object for every process.

Values come, highest first, from `CSBOT_*` environment variables, an optional YAML file named by
`CSBOT_CONFIG`, then the defaults, which give the embedded single-machine setup.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEV_SECRET = "dev-insecure-secret-change-me"


class PipelineSettings(BaseModel):
    #: bots tried by the router, in priority order for ties
    bots: list[str] = Field(default_factory=lambda: ["task", "kb", "chat"])
    max_message_chars: int = 2000
    max_body_bytes: int = 64 * 1024
    #: consecutive failed replies before a conversation is handed to a person
    handoff_after_failures: int = 3
    cache_ttl_s: int = 24 * 3600
    #: minimum router score for a bot to answer; below it the reply is a polite reject
    min_route_score: float = 0.3


class ServerSettings(BaseModel):
    """How `csbot serve` runs uvicorn against slow or greedy clients (see docs/security.md)."""

    #: seconds an idle keep-alive connection is kept before the server closes it
    keep_alive_s: int = 5
    #: connections and requests in flight per worker process before new ones get a 503 (0 = no limit)
    limit_concurrency: int = 1000
    #: largest request line plus headers accepted before the connection is refused (h11's buffer)
    max_header_bytes: int = 16 * 1024
    #: seconds a client has to send a request line and headers before it is disconnected (0 = no limit)
    header_timeout_s: float = 10.0
    #: freeze the objects alive after start-up out of the garbage collector (no 100-200 ms full
    #: collections walking the models under load; docs/performance.md)
    gc_freeze: bool = True


class ModelSettings(BaseModel):
    #: where `csbot models prepare` writes converted checkpoints
    dir: Path | None = None
    device: str = "cpu"
    torch_threads: int = 0  # 0 = torch default


class LLMSettings(BaseModel):
    #: OpenAI-compatible server (vLLM or `csbot llm serve`); empty = in-process transformers
    url: str = ""
    model: str = ""
    max_new_tokens: int = 96
    time_budget_s: float = 20.0
    load_local: bool = True
    #: rows decoded together by the in-process scheduler (`csbot llm serve` and in-process chat)
    max_batch: int = 8
    #: torch intra-op threads of the in-process model's thread (0 = torch's default, one per core).
    #: 1 by default: a decoding step is a few hundred small ops, and with 2+ OpenMP threads on a
    #: busy machine each op waits at a barrier for a descheduled thread (measured 10x slower at load
    #: 16 on 2 cores); batching, not threads, is what buys throughput here
    torch_threads: int = 1
    #: per-tenant LoRA adapter directories used when the model registry has no serving "chat-lora"
    adapters: dict[str, str] = Field(default_factory=dict)
    #: bearer token for an OpenAI-compatible server started with `--api-key` (vLLM)
    api_key: SecretStr = SecretStr("")
    #: chat bot: ground a generated answer on KB passages whose score reaches this
    grounding_min_passage_score: float = 0.3
    #: chat bot: router score of a grounded answer (KB suggestions score 0.4-0.7; ties go to kb)
    grounded_route_score: float = 0.45
    #: chat bot: router score when only free generation is left (just above pipeline.min_route_score)
    generation_route_score: float = 0.32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CSBOT_", env_nested_delimiter="__", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str = ""
    redis_prefix: str = "csbot"
    milvus_uri: str = ""
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    host: str = "127.0.0.1"
    port: int = 8000
    shop_url: str = ""
    log_level: str = "INFO"
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls), file_secret_settings)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().absolute()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'csbot.db'}"
        if self.models.dir is None:
            self.models.dir = self.data_dir / "models"
        if self.environment == "production" and self.secret_key.get_secret_value() == DEV_SECRET:
            raise ValueError("CSBOT_SECRET_KEY must be set to a real secret when CSBOT_ENVIRONMENT=production")
        return self

    @property
    def models_dir(self) -> Path:
        assert self.models.dir is not None
        return self.models.dir

    def masked(self) -> dict[str, Any]:
        """The effective config with secrets and URL passwords masked, for `csbot config show`."""
        data = self.model_dump(mode="json")
        data["secret_key"] = "********"
        for key in ("database_url", "redis_url", "milvus_uri", "shop_url"):
            data[key] = mask_url(data[key])
        data["llm"]["url"] = mask_url(data["llm"]["url"])
        return data


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the YAML file named by CSBOT_CONFIG (if any)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("CSBOT_CONFIG")
        if not path:
            return {}
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: top level must be a mapping")
        return data


def mask_url(url: str) -> str:
    """Replace the password of a URL (scheme://user:pass@host) by ****."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:****@{host}" if ":" in creds else url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

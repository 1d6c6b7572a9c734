"""Settings of the channels (rate limits, token lifetimes, webhook retries), from `CSBOT_CHANNELS_*`."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ChannelSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CSBOT_CHANNELS_", extra="ignore")

    #: messages a widget visitor may send per minute (0 = unlimited)
    visitor_messages_per_min: int = 20
    #: widget sessions (page loads) one client address may open per minute; offices share one address
    sessions_per_min: int = 120
    #: requests per minute per API key, on every API-key endpoint (0 = unlimited)
    api_key_requests_per_min: int = 600
    #: failed operator sign-ins per user per 5 minutes before refusing
    login_attempts_per_5min: int = 10
    visitor_token_ttl_s: int = 30 * 24 * 3600
    #: first retry after this many seconds, doubling each time up to `webhook_backoff_max_s`
    webhook_backoff_s: float = 5.0
    webhook_backoff_max_s: float = 3600.0
    #: attempts before a delivery is given up (status "failed")
    webhook_max_attempts: int = 12
    webhook_timeout_s: float = 10.0
    #: how often the dispatcher looks for due deliveries when nothing woke it
    webhook_poll_s: float = 1.0
    dispatcher: bool = True

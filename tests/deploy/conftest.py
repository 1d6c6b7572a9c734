"""Helpers shared by the deploy/ checks: which CSBOT_* keys csbot reads, and what counts as a written-out secret."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from pydantic import BaseModel

from csbot.config import Settings

#: CSBOT_* variables read outside Settings (os.environ in csbot/config.py and csbot/paths.py)
NON_SETTINGS_KEYS = {"CSBOT_CONFIG", "CSBOT_SHARED_DATA"}

CSBOT_KEY = re.compile(r"\bCSBOT_[A-Z0-9_]*[A-Z0-9]\b")

#: variable names whose value is a secret and must never be written in a manifest
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|(^|_)TOKEN$|API_KEY|ACCESS_KEY|ROOT_USER)")
#: the password part of scheme://user:password@host
URL_PASSWORD = re.compile(r"://[^/@\s:]*:([^@\s]+)@")


def literal_secrets(env: dict[str, str], outside: Callable[[str], bool] = lambda v: v == "") -> list[str]:
    """Variables of `env` whose secret is written out instead of coming from outside the manifest.

    `outside(value)` says whether a value came from outside (compose: from the .env file; k8s: a
    literal is never from outside, secrets come through secretKeyRef/envFrom and are not in `env`).
    """
    bad = []
    for name, value in env.items():
        value = "" if value is None else str(value)
        if SECRET_NAME.search(name) and not outside(value):
            bad.append(f"{name}={value}")
        m = URL_PASSWORD.search(value)
        if m and not outside(m.group(1)):
            bad.append(f"{name}: password written in the URL")
    return bad


def settings_key_problem(key: str) -> str | None:
    """None when `key` is a variable csbot reads, else why not (walks `__` nesting through Settings)."""
    if key in NON_SETTINGS_KEYS:
        return None
    if not key.startswith("CSBOT_"):
        return f"{key}: not a CSBOT_ key"
    model: type[BaseModel] = Settings
    parts = key[len("CSBOT_") :].lower().split("__")
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return f"{key}: Settings has no field {'.'.join(parts[: i + 1])}"
        ann = field.annotation
        if i < len(parts) - 1:
            if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
                return f"{key}: {'.'.join(parts[: i + 1])} is not a nested settings group"
            model = ann
    return None


@pytest.fixture
def no_literal_secrets():
    return literal_secrets


@pytest.fixture
def csbot_key_pattern() -> re.Pattern[str]:
    return CSBOT_KEY


@pytest.fixture
def check_keys():
    def check(keys: set[str], where: str) -> None:
        assert keys, f"no CSBOT_* key found in {where}"
        problems = [p for k in sorted(keys) if (p := settings_key_problem(k))]
        assert not problems, f"{where}: " + "; ".join(problems)

    return check

"""Masks credentials in log records before any handler writes them.

Browsers cannot set headers on a WebSocket, so the chat, widget and operator sockets take their
credential in the query string (`?api_key=`, `?token=`), and uvicorn logs every request line with
its query string (the `WebSocket /v1/ws?api_key=...` line is INFO). No logging library masks these,
so this filter rewrites the few shapes our credentials have: query parameters named like a secret,
`Bearer` values and API keys (`csk_...`) anywhere in the message.
"""

from __future__ import annotations

import logging
import re

from csbot.pipeline.pii import find_pii, mask_pii

MASK = "***"
_RULES = [
    (re.compile(r"((?:api_key|token|access_token|secret|password|user_hash|visitor_token)=)[^&\s\"']+", re.I),
     rf"\g<1>{MASK}"),
    (re.compile(r"(Bearer\s+)[^\s\"',]+", re.I), rf"\g<1>{MASK}"),
    (re.compile(r"csk_[0-9a-f]{8}_[A-Za-z0-9_-]+"), f"csk_{MASK}"),
]
#: loggers whose records may hold a request line or headers
LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "csbot", "kbbot", "taskbot", "chatbot", "ops_console")


def redact(text: str) -> str:
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    # customers' phone numbers, ID cards, bank cards and e-mails are masked like everywhere else we
    # write user text (csbot.pipeline.pii): a log line quoting a request must not carry them
    return mask_pii(text)[0] if find_pii(text) else text


class RedactSecrets(logging.Filter):
    """Replaces a record's message by its masked form when it held a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logging's problem to report, not ours
            return True
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install() -> None:
    """Attach the filter to the loggers that see requests (idempotent: once per logger)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
    # a logger's filters do not see records of its children ("csbot.pipeline.pipeline"); the
    # handlers configured by now (root, uvicorn's) do, so they get the filter too
    for name in ("", *LOGGERS):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactSecrets) for f in handler.filters):
                handler.addFilter(RedactSecrets())

"""The error answers every route can give, added to the OpenAPI schema in one place.

The body-size limit, the JSON parser, request validation, authentication, the rate limits and the
database-down handler answer for every route, outside the route's own code, so documenting them per
route would repeat the same list everywhere and go stale as routes are added. This fills in what a
route did not document itself; a route's own `responses=` wins, except
for 422, whose body is always our `ErrorBody`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

#: status -> why, for every operation
ALWAYS = {
    "400": "The body is not parseable (malformed JSON, a bad Content-Length)",
    "413": "The body is larger than `pipeline.max_body_bytes`",
    "422": "A parameter or the body is invalid; `detail` lists what and where",
    "503": "The database is unavailable; retry after `Retry-After` seconds",
}
#: added when the operation needs an API key or an operator token
AUTHENTICATED = {
    "401": "Missing, wrong, revoked or expired credentials",
    "403": "The key lacks the scope, or the console user the role, that this needs",
    "429": "The API key's request budget is spent; retry after `Retry-After` seconds",
}
#: added when the path names a resource
WITH_PATH_PARAMS = {"404": "No such resource for this tenant"}

ERROR_BODY = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "A short title: `invalid request`, `not found`, ..."},
        "detail": {"description": "What went wrong and where: a message, or a list of `{loc, msg, type}`"},
    },
}


def document_errors(app: FastAPI) -> None:
    """Make `app.openapi()` list the shared error answers (with the `ErrorBody` schema) on every operation."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {}).setdefault("schemas", {}).setdefault("ErrorBody", ERROR_BODY)
        ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
        for path, item in schema.get("paths", {}).items():
            for op in item.values():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                extra = dict(ALWAYS)
                if op.get("security"):
                    extra.update(AUTHENTICATED)
                if "{" in path:
                    extra.update(WITH_PATH_PARAMS)
                for status, why in extra.items():
                    op["responses"].setdefault(status, {"description": why, **ref})
                # FastAPI documents its own validation body; ours is an ErrorBody (see install_error_handlers)
                op["responses"]["422"] = {"description": ALWAYS["422"], **ref}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

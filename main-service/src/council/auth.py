"""The API key a request carries and whether it is the configured one: one reading for auth and rate limits."""

import secrets

from pydantic import SecretStr
from starlette.datastructures import Headers


def supplied_api_key(headers: Headers) -> str:
    """The key sent as `X-API-Key: KEY` or `Authorization: Bearer KEY`; empty when none."""
    bearer = headers.get("authorization", "")
    return headers.get("x-api-key") or (bearer[7:] if bearer[:7].lower() == "bearer " else "")


def is_configured_key(headers: Headers, api_key: SecretStr) -> bool:
    """Constant-time comparison, so the time taken tells nothing about the key."""
    return secrets.compare_digest(supplied_api_key(headers).encode(), api_key.get_secret_value().encode())

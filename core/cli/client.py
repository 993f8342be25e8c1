"""One synchronous HTTP client per command (httpx). Errors become `CommandError` with Vault's
wording (`Error reading PATH: 403 ...`); tokens never appear in a message."""

from __future__ import annotations

from typing import Any

import httpx

from core.cli.errors import CommandError
from core.cli.settings import Settings

TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class Client:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._http = httpx.Client(verify=settings.verify, timeout=TIMEOUT)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        json_body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        token: str | None = None,
        anonymous: bool = False,
        any_status: bool = False,
    ) -> tuple[int, dict[str, Any] | None]:
        """One request; returns (status, JSON body or None) for 2xx and 404 (any status with
        `any_status`); raises CommandError otherwise."""
        sent = token or (None if anonymous else self.settings.token)
        headers = {"X-Vault-Token": sent} if sent else {}
        url = f"{self.settings.address}/v1/{path}"
        try:
            response = self._http.request(
                method, url, json=json_body, params=params, headers=headers
            )
        except httpx.ConnectError as exc:
            raise CommandError(
                f"Error {what} {path}: cannot connect to the server at "
                f"{self.settings.address} ({_reason(exc)}); is it running? "
                "Set WARDGATE_ADDR or -address."
            ) from None
        except httpx.TimeoutException:
            raise CommandError(
                f"Error {what} {path}: no answer from {self.settings.address} in time"
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise CommandError(
                f"Error {what} {path}: the request to {self.settings.address} failed "
                f"({_reason(exc)})"
            ) from None
        body = _json_object(response)
        errors = body.get("errors") if body else None
        status = response.status_code
        if status < 400 or (status == 404 and not errors) or (any_status and not errors):
            return status, body
        joined = "; ".join(str(e) for e in errors) if isinstance(errors, list) else ""
        message = f"Error {what} {path}: {status} {joined or response.reason_phrase}"
        given = [str(d.get("token") or "") for d in (json_body or {}, params or {})]
        raise CommandError(redact(message.rstrip(), [sent or "", *given]))

    def infisical_post(self, path: str, what: str, json_body: dict[str, Any]) -> dict[str, Any]:
        """POST to Infisical's API (`/api/v1/<path>`) without a token; its error body's
        `message` becomes the CommandError."""
        url = f"{self.settings.address}/api/v1/{path}"
        try:
            response = self._http.post(url, json=json_body)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise CommandError(
                f"Error {what} /api/v1/{path}: the request to {self.settings.address} failed "
                f"({_reason(exc)})"
            ) from None
        body = _json_object(response) or {}
        if response.status_code == 200:
            return body
        message = body.get("message", response.reason_phrase)
        if isinstance(message, list):  # a 422's issues
            message = "; ".join(
                f"{'.'.join(map(str, i.get('path', [])))}: {i.get('message')}"
                for i in message
                if isinstance(i, dict)
            )
        raise CommandError(f"Error {what} /api/v1/{path}: {response.status_code} {message}")


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.split("\n")[0]


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    if not response.content.strip():
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text

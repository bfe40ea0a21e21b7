"""The client side of a Gitward issuing API (``POST /api/v1/ssh/certificates``): what
``gitward login`` and the connector's ``key certify`` (and its renewal in ``serve``) call.
Runs anywhere: it needs a token and the server's web address, not a database."""

from __future__ import annotations

from typing import Any, Final

import httpx

from gitward.errors import GitwardError, InvalidInput

API_PATH: Final = "/api/v1/ssh/certificates"
TIMEOUT: Final = 30.0


class IssuingFailed(GitwardError):
    """The issuing server refused, or could not be reached."""


def request_certificate(server: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST ``body`` with the token; the server's JSON answer, or IssuingFailed with its
    message. The token never appears in a message or a cause."""
    url = server.rstrip("/") + API_PATH
    if not url.startswith(("https://", "http://")):
        raise InvalidInput("--server must be an http:// or https:// URL")
    try:
        response = httpx.post(
            url, json=body, timeout=TIMEOUT, headers={"Authorization": f"Bearer {token}"}
        )
    except httpx.HTTPError as exc:
        raise IssuingFailed(f"cannot reach {server}: {exc}", cause=repr(exc)) from exc
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code != 201 or not isinstance(data, dict):
        error = data.get("error") if isinstance(data, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        raise IssuingFailed(
            f"the server refused: {message}"
            if message
            else f"the server answered HTTP {response.status_code}; is {server} a Gitward server?"
        )
    return data

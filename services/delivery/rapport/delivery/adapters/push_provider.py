"""Push through an FCM HTTP v1-style API.

POST {endpoint}/v1/projects/{project_id}/messages:send with a bearer token and
an `Idempotency-Key` header (the message id), body
`{"message": {"token", "notification": {"title", "body"}, "data": {...}}}`.
Success is a JSON object whose `name` (`projects/{p}/messages/{id}`) is the
provider's message id. An error is `{"error": {"code", "message", "status",
"details": [{"errorCode": ...}]}}`: `UNREGISTERED` (the app was uninstalled),
`INVALID_ARGUMENT` and `SENDER_ID_MISMATCH` refuse the message whatever the
HTTP status says.

The bearer token is configured (a deployment refreshes it outside, e.g. from a
service account); FCM's data values are strings, so other JSON values are sent
JSON-encoded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .http_provider import HttpAnswer, HttpClient, HttpProvider
from .providers import OutgoingMessage, ProviderError, ProviderRejectedError

# Names the message in the data payload, so the app can report opens against it.
MESSAGE_DATA_KEY = "rapport_message"
_MESSAGE_REFUSED = frozenset({"UNREGISTERED", "INVALID_ARGUMENT", "SENDER_ID_MISMATCH"})


def push_data(data: Mapping[str, Any], message_name: str) -> dict[str, str]:
    """FCM data values are strings: strings stay as they are, the rest is JSON."""
    values = {
        key: value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        for key, value in data.items()
    }
    values[MESSAGE_DATA_KEY] = message_name
    return values


class FcmPushProvider(HttpProvider):
    kind = "push"

    def __init__(
        self,
        *,
        name: str,
        client: HttpClient,
        endpoint: str,
        project_id: str,
        access_token: str,
        honours_idempotency_key: bool = True,
    ) -> None:
        super().__init__(name=name, client=client, honours_idempotency_key=honours_idempotency_key)
        self._url = f"{endpoint.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self._headers = {
            "Authorization": f"Bearer {access_token}",
            "Content-Type": "application/json",
        }

    async def send(self, outgoing: OutgoingMessage) -> str:
        notification = {"body": outgoing.text_body}
        if outgoing.subject:
            notification["title"] = outgoing.subject
        body = {
            "message": {
                "token": outgoing.to,
                "notification": notification,
                "data": push_data(outgoing.data, outgoing.message_name),
            }
        }
        answer = await self._post(
            self._url,
            idempotency_key=outgoing.idempotency_key,
            headers=self._headers,
            # Compact UTF-8 JSON, as before.
            body=json.dumps(
                body, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode(),
        )
        name = answer.json_object().get("name")
        return name if isinstance(name, str) else ""

    def refine(self, answer: HttpAnswer, error: ProviderError) -> ProviderError:
        details = answer.json_object().get("error")
        if not isinstance(details, dict):
            return error
        listed = details.get("details")
        entries = listed if isinstance(listed, list) else []
        codes = [entry.get("errorCode") for entry in entries if isinstance(entry, dict)]
        codes.append(details.get("status"))
        refused = sorted(c for c in codes if isinstance(c, str) and c in _MESSAGE_REFUSED)
        if refused:
            return ProviderRejectedError(
                f"{error} {refused[0]}", proves_not_taken=error.proves_not_taken
            )
        return error

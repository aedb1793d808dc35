"""SMS through a Twilio-style HTTP API.

POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json, form-encoded
`To`, `Body` and `From` (or `MessagingServiceSid`), HTTP basic auth with the
account sid and auth token, and an `Idempotency-Key` header (the message id).
Success is `201` with a JSON object whose `sid` is the provider's message id; an
error is a JSON object with `code` (the API's error number), `message`,
`more_info` and `status`. The `message` text may quote the phone number, so only
the status and code are kept.
"""

from __future__ import annotations

import base64
from urllib.parse import urlencode

from .http_provider import HttpAnswer, HttpClient, HttpProvider
from .providers import OutgoingMessage, ProviderError, ProviderRejectedError

# Error codes that refuse the message itself whatever the HTTP status (e.g. the
# recipient replied STOP, or the number cannot receive SMS).
_RECIPIENT_REFUSED = frozenset({21211, 21610, 21612, 21614})


class TwilioSmsProvider(HttpProvider):
    kind = "sms"

    def __init__(
        self,
        *,
        name: str,
        client: HttpClient,
        base_url: str,
        account_sid: str,
        auth_token: str,
        from_number: str = "",
        messaging_service_sid: str = "",
        honours_idempotency_key: bool = True,
        status_callback_url: str = "",
    ) -> None:
        super().__init__(name=name, client=client, honours_idempotency_key=honours_idempotency_key)
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode("ascii")
        self._headers = {
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        self._sender = (
            {"MessagingServiceSid": messaging_service_sid}
            if messaging_service_sid
            else {"From": from_number}
        )
        # Where the provider reports delivered / undelivered (delivery's HTTP endpoint).
        if status_callback_url:
            self._sender = {**self._sender, "StatusCallback": status_callback_url}

    async def send(self, outgoing: OutgoingMessage) -> str:
        form = {"To": outgoing.to, "Body": outgoing.text_body, **self._sender}
        answer = await self._post(
            self._url,
            idempotency_key=outgoing.idempotency_key,
            body=urlencode(form).encode(),
            headers=self._headers,
        )
        sid = answer.json_object().get("sid")
        return sid if isinstance(sid, str) else ""

    def refine(self, answer: HttpAnswer, error: ProviderError) -> ProviderError:
        code = answer.json_object().get("code")
        if not isinstance(code, int):
            return error
        reason = f"{error} {code}"
        if code in _RECIPIENT_REFUSED:
            return ProviderRejectedError(reason, proves_not_taken=error.proves_not_taken)
        error.args = (reason,)
        return error

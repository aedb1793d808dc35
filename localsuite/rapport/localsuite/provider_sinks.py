"""Local stand-ins for the SMS, push and webhook providers, as the SMTP sink is for email.

One HTTP server on 127.0.0.1 answers as the providers delivery talks to and saves
what it receives as JSON files a user can open:

- POST /sms/2010-04-01/Accounts/{sid}/Messages.json (Twilio-style form)  -> <folder>/sms/
- POST /push/v1/projects/{project}/messages:send (FCM v1-style JSON)      -> <folder>/push/
- POST /webhooks/{workspace} (Standard Webhooks, signature checked)        -> <folder>/webhooks/

Like the real providers delivery assumes, the SMS and push stand-ins take a repeated
Idempotency-Key once: the repeat gets the first answer and saves nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from rapport.config import ServiceSettings
from rapport.httpserver import RunningHttpServer, start
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

FOLDERS = ("sms", "push", "webhooks")
# What `make run` configures delivery with (the stand-ins check nothing else).
ACCOUNT_SID = "AClocal"
AUTH_TOKEN = "local-auth-token"
FROM_NUMBER = "+15005550006"
PROJECT_ID = "rapport-local"
ACCESS_TOKEN = "local-access-token"


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signature_matches(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Whether one of the `v1` signatures is HMAC-SHA256 of "id.timestamp.body"."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers.get('webhook-id', '')}.{headers.get('webhook-timestamp', '')}."
    expected = hmac.new(key, signed.encode() + body, hashlib.sha256).digest()
    for candidate in headers.get("webhook-signature", "").split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), base64.b64encode(expected)):
            return True
    return False


class ProviderSinks:
    """The stand-ins on 127.0.0.1:`port` (0: any free port), saving under `folder`."""

    def __init__(self, folder: Path, *, webhook_secret: str, port: int = 0) -> None:
        self.folder = folder
        self.webhook_secret = webhook_secret
        self.requested_port = port
        self._counter = itertools.count(1)
        self._answers: dict[str, Any] = {}
        self._server: RunningHttpServer | None = None

    @property
    def port(self) -> int:
        return self._server.port if self._server is not None else self.requested_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _save(self, kind: str, record: dict[str, Any]) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        path = self.folder / kind / f"{stamp}-{next(self._counter):04d}.json"
        path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")

    def _once(self, request: Request, answer: Any) -> tuple[Any, bool]:
        """(the answer for this request, whether it is a first sight of its key)."""
        key = request.headers.get("idempotency-key", "")
        if key and key in self._answers:
            return self._answers[key], False
        if key:
            self._answers[key] = answer
        return answer, True

    async def _sms(self, request: Request) -> Response:
        auth = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {auth}":
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, 401)
        form = {
            key: values[-1] for key, values in parse_qs((await request.body()).decode()).items()
        }
        answer = {"sid": "SM" + secrets.token_hex(16), "status": "queued"}
        answer, first = self._once(request, answer)
        if first:
            record = {key: form.get(key) for key in ("To", "From", "MessagingServiceSid", "Body")}
            self._save("sms", {**answer, **record, "idempotency_key": _key(request)})
        return JSONResponse(answer, status_code=201)

    async def _push(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
            error = {"code": 401, "status": "UNAUTHENTICATED", "message": "bad token"}
            return JSONResponse({"error": error}, 401)
        body = await request.json()
        project = request.path_params["project"]
        answer = {"name": f"projects/{project}/messages/{secrets.token_hex(8)}"}
        answer, first = self._once(request, answer)
        if first:
            self._save("push", {**answer, **body, "idempotency_key": _key(request)})
        return JSONResponse(answer)

    async def _webhook(self, request: Request) -> Response:
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.startswith("webhook-")}
        try:
            payload: Any = json.loads(body)
        except ValueError:
            payload = body.decode(errors="replace")
        self._save(
            "webhooks",
            {
                "workspace": request.path_params["workspace"],
                "headers": headers,
                "signature_valid": signature_matches(self.webhook_secret, headers, body),
                "body": payload,
            },
        )
        return Response(status_code=204)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/sms/2010-04-01/Accounts/{sid}/Messages.json", self._sms, methods=["POST"]),
                Route("/push/v1/projects/{project}/messages:send", self._push, methods=["POST"]),
                Route("/webhooks/{workspace}", self._webhook, methods=["POST"]),
            ]
        )

    async def start(self) -> None:
        for kind in FOLDERS:
            (self.folder / kind).mkdir(parents=True, exist_ok=True)

        async def ready() -> bool:
            return True

        settings = ServiceSettings(host="127.0.0.1", http_port=self.requested_port)
        self._server = await start(self.app(), settings, ready=ready)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=1.0)
            self._server = None

    def saved(self, kind: str) -> list[dict[str, Any]]:
        """What was saved for `kind` (sms, push, webhooks), oldest first."""
        return [json.loads(p.read_text()) for p in sorted((self.folder / kind).glob("*.json"))]

    def delivery_environment(self, workspaces: tuple[str, ...] = ("default",)) -> dict[str, str]:
        """RAPPORT_DELIVERY_* variables that point delivery's providers at these stand-ins."""
        sms = {
            "name": "sms-local",
            "base_url": f"{self.url}/sms",
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "from_number": FROM_NUMBER,
        }
        push = {
            "name": "push-local",
            "endpoint": f"{self.url}/push",
            "project_id": PROJECT_ID,
            "access_token": ACCESS_TOKEN,
        }
        webhooks = {
            workspace: {"url": f"{self.url}/webhooks/{workspace}", "secret": self.webhook_secret}
            for workspace in workspaces
        }
        return {
            "RAPPORT_DELIVERY_SMS_PROVIDERS": json.dumps([sms]),
            "RAPPORT_DELIVERY_PUSH_PROVIDERS": json.dumps([push]),
            "RAPPORT_DELIVERY_WEBHOOK_ENDPOINTS": json.dumps(webhooks),
        }


def _key(request: Request) -> str:
    return request.headers.get("idempotency-key", "")

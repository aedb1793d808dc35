"""Delivery's HTTP endpoint (served by rapport.httpserver next to gRPC).

- ``GET /v1/unsubscribe/{token}``: a confirmation page; ``POST`` (RFC 8058 one-click,
  or the page's button) records the opt-out in consent within the request: 200 once
  recorded, 503 when consent could not record it (the link works again later), 400
  for something that is not a token, 403 for a forged or expired one.
- ``GET /v1/email/open/{token}``: the open pixel of a tracked email: records OPENED
  (once per message) and always answers a 1x1 GIF, never cached; a token that is not
  ours or names no message we know records nothing but still gets the GIF (a mail
  client shows no broken image).
- ``GET /v1/email/click/{token}``: a tracked link: records CLICKED (and OPENED when it
  was not) and redirects (302) to the link the token was signed with; 400 for
  something that is not a token, 403 for a forged one (no redirect: never an open
  redirect). The redirect is answered even when recording failed: the reader gets to
  the link either way. HEAD (link scanners, prefetchers) records nothing.
- ``POST /v1/providers/{provider}/twilio/status``: Twilio-style SMS status callbacks
  (``X-Twilio-Signature`` verified with the provider's auth token).
- ``POST /v1/providers/{provider}/twilio/inbound``: inbound SMS; STOP opts out.
- ``POST /v1/providers/{provider}/events``: provider events as JSON, signed per
  Standard Webhooks with the provider's shared secret (``provider_event_secrets``).

Callbacks are answered 200 whatever they name. One for a message whose SENT is not
recorded yet (or for a provider id no message carries yet) is held and applied when it
is (service_layer/early_events.py); one for a message never sent changes nothing.
"""

from __future__ import annotations

import html
import json
import logging
from urllib.parse import parse_qsl

from rapport.delivery.domain.callback_signatures import (
    standard_webhook_valid,
    twilio_signature_valid,
)
from rapport.delivery.domain.unsubscribe import ONE_CLICK_BODY, TokenMalformed, TokenRefused
from rapport.delivery.service_layer import provider_events, tracking
from rapport.delivery.service_layer.dependencies import Dependencies
from rapport.httpserver import read_body
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

_log = logging.getLogger(__name__)

# Callbacks and unsubscribe posts are small; anything bigger is not one.
MAX_CALLBACK_BYTES = 256 * 1024
_TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# The smallest transparent 1x1 GIF (43 bytes).
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00"
    b"\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
# Every open must reach us: no cache (the client's, a proxy's) may answer for us.
_NOT_CACHED = {
    "cache-control": "no-store, no-cache, must-revalidate, max-age=0, private",
    "pragma": "no-cache",
    "expires": "0",
    "referrer-policy": "no-referrer",
}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(
        document,
        status,
        headers={"cache-control": "no-store", "referrer-policy": "no-referrer"},
    )


def _token_refusal(err: Exception) -> HTMLResponse:
    if isinstance(err, TokenMalformed):
        return _page("Link not recognised", "<p>This unsubscribe link is not valid.</p>", 400)
    return _page(
        "Link not accepted",
        "<p>This unsubscribe link has expired or was not issued by us.</p>",
        403,
    )


def build_http_app(deps: Dependencies) -> Starlette:
    loop = deps.loop

    async def unsubscribe_page(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            subject = provider_events.read_unsubscribe(token, deps)
        except (TokenMalformed, TokenRefused) as err:
            return _token_refusal(err)
        # The form posts what a one-click client posts: the same path, the same body.
        name, value = ONE_CLICK_BODY.split("=")
        return _page(
            "Unsubscribe",
            f"<p>Stop receiving {html.escape(subject.purpose)} messages by "
            f"{html.escape(subject.channel.value.lower())}?</p>"
            '<form method="post">'
            f'<input type="hidden" name="{name}" value="{value}">'
            '<button type="submit">Unsubscribe</button></form>',
        )

    async def unsubscribe_post(request: Request) -> Response:
        token = request.path_params["token"]
        await read_body(request, MAX_CALLBACK_BYTES)
        try:
            subject = await provider_events.unsubscribe(token, deps)
        except (TokenMalformed, TokenRefused) as err:
            return _token_refusal(err)
        except provider_events.OptOutNotRecorded as err:
            _log.warning("unsubscribe not recorded", extra={"error_reason": err.failure_code})
            page = _page(
                "Please try again",
                "<p>We could not record your request just now. Please try again shortly.</p>",
                503,
            )
            page.headers["retry-after"] = "30"
            return page
        return _page(
            "You are unsubscribed",
            f"<p>You will no longer receive {html.escape(subject.purpose)} messages by "
            f"{html.escape(subject.channel.value.lower())}.</p>",
        )

    async def tracked_open(request: Request) -> Response:
        if request.method == "GET":
            try:
                tracked = tracking.read_open(request.path_params["token"], deps)
                await tracking.record_open(tracked, deps)
            except (TokenMalformed, TokenRefused):
                _log.info("open pixel with a token that is not ours")
            except Exception:
                # Never a broken image in someone's mail: the open is lost, logged.
                _log.exception("open not recorded")
        return Response(PIXEL_GIF, 200, media_type="image/gif", headers=_NOT_CACHED)

    async def tracked_click(request: Request) -> Response:
        try:
            tracked = tracking.read_click(request.path_params["token"], deps)
        except TokenMalformed:
            return _page("Link not recognised", "<p>This link is not valid.</p>", 400)
        except TokenRefused:
            return _page("Link not accepted", "<p>This link was not issued by us.</p>", 403)
        if request.method == "GET":
            try:
                await tracking.record_click(tracked, deps)
            except Exception:
                # The reader still gets where the link goes: the click is lost, logged.
                _log.exception("click not recorded")
        # The URL as signed (printable ASCII, checked again when read): sent as it is,
        # so the browser goes exactly where the original link pointed.
        return Response(status_code=302, headers={**_NOT_CACHED, "location": tracked.url})

    async def _twilio_params(request: Request) -> dict[str, str] | Response:
        provider = request.path_params["provider"]
        auth_token = loop.twilio_tokens.get(provider)
        if auth_token is None:
            return JSONResponse({"error": "not found"}, 404)
        body = await read_body(request, MAX_CALLBACK_BYTES)
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
        except (UnicodeDecodeError, ValueError):
            return JSONResponse({"error": "the body is not a form"}, 400)
        # Twilio signs the URL it was given: the public one, not the one we are reached on.
        url = loop.public_base_url.rstrip("/") + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        signature = request.headers.get("x-twilio-signature", "")
        if not signature or not twilio_signature_valid(auth_token, url, pairs, signature):
            _log.warning("callback with a bad signature", extra={"provider": provider})
            return JSONResponse({"error": "bad signature"}, 403)
        return dict(pairs)

    async def twilio_status(request: Request) -> Response:
        params = await _twilio_params(request)
        if isinstance(params, Response):
            return params
        await provider_events.twilio_status(request.path_params["provider"], params, deps)
        return Response(status_code=204)

    async def twilio_inbound(request: Request) -> Response:
        params = await _twilio_params(request)
        if isinstance(params, Response):
            return params
        try:
            await provider_events.sms_reply(request.path_params["provider"], params, deps)
        except provider_events.OptOutNotRecorded as err:
            _log.warning("STOP not recorded", extra={"error_reason": err.failure_code})
            return Response(_TWIML_EMPTY, 503, media_type="application/xml")
        return Response(_TWIML_EMPTY, 200, media_type="application/xml")

    async def signed_events(request: Request) -> Response:
        provider = request.path_params["provider"]
        secret = loop.event_secrets.get(provider)
        if secret is None:
            return JSONResponse({"error": "not found"}, 404)
        body = await read_body(request, MAX_CALLBACK_BYTES)
        valid = standard_webhook_valid(
            secret,
            webhook_id=request.headers.get("webhook-id", ""),
            timestamp=request.headers.get("webhook-timestamp", ""),
            signatures=request.headers.get("webhook-signature", ""),
            body=body,
            now=deps.clock(),
        )
        if not valid:
            _log.warning("callback with a bad signature", extra={"provider": provider})
            return JSONResponse({"error": "bad signature"}, 403)
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            return JSONResponse({"error": "the body is not JSON"}, 400)
        events = document.get("events") if isinstance(document, dict) else None
        if events is None:
            events = [document]
        if not isinstance(events, list) or len(events) > provider_events.MAX_EVENTS_PER_CALLBACK:
            return JSONResponse(
                {"error": f"give an event or at most {provider_events.MAX_EVENTS_PER_CALLBACK}"},
                400,
            )
        outcomes = await provider_events.signed_events(provider, events, deps)
        return JSONResponse(
            {"results": [o.value if o is not None else "UNREADABLE" for o in outcomes]}
        )

    return Starlette(
        routes=[
            Route("/v1/unsubscribe/{token}", unsubscribe_page, methods=["GET"]),
            Route("/v1/unsubscribe/{token}", unsubscribe_post, methods=["POST"]),
            Route("/v1/email/open/{token}", tracked_open, methods=["GET"]),
            Route("/v1/email/click/{token}", tracked_click, methods=["GET"]),
            Route("/v1/providers/{provider}/twilio/status", twilio_status, methods=["POST"]),
            Route("/v1/providers/{provider}/twilio/inbound", twilio_inbound, methods=["POST"]),
            Route("/v1/providers/{provider}/events", signed_events, methods=["POST"]),
        ]
    )

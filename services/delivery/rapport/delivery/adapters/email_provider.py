"""Email providers: the port the dispatcher sends through, and SMTP.

Later providers (SMS, push, webhook, a second email vendor for fallback) follow
the same shape: a `send` that returns the provider's message id or raises
ProviderTransientError (retry later) or ProviderRejectedError (never retry).
"""

from __future__ import annotations

import abc
import email.generator
import email.policy
import email.utils
import io
from dataclasses import dataclass, field
from email.message import EmailMessage

import aiosmtplib


class ProviderTransientError(Exception):
    """The provider could not take the message now (connection, timeout, 4xx)."""


class ProviderRejectedError(Exception):
    """The provider definitely refused the message (5xx, recipient refused)."""


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    subject: str
    text_body: str
    html_body: str | None = None
    # Extra headers, e.g. X-Rapport-Message.
    headers: dict[str, str] = field(default_factory=dict)


class EmailProvider(abc.ABC):
    name: str

    @abc.abstractmethod
    async def send(self, email_to_send: OutgoingEmail) -> str:
        """Hand the email over; returns the provider's message id."""


def _sender_domain(email_from: str) -> str:
    _, address = email.utils.parseaddr(email_from)
    return address.rpartition("@")[2] or "localhost"


# 7-bit safe whatever the server supports, and no folding of our long header values
# (some readers keep the fold's whitespace).
_POLICY = email.policy.SMTP.clone(max_line_length=998, cte_type="7bit")


def _flatten(message: EmailMessage) -> bytes:
    buffer = io.BytesIO()
    email.generator.BytesGenerator(buffer, policy=_POLICY).flatten(message)
    return buffer.getvalue()


class SmtpEmailProvider(EmailProvider):
    name = "smtp"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        email_from: str,
        timeout_seconds: float,
        username: str | None = None,
        password: str | None = None,
        start_tls: bool | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._from = email_from
        self._timeout = timeout_seconds
        self._username = username
        self._password = password
        self._start_tls = start_tls
        # Given explicitly: make_msgid would otherwise resolve this host's FQDN.
        self._msgid_domain = _sender_domain(email_from)
        self._envelope_from = email.utils.parseaddr(email_from)[1]

    def build(self, email_to_send: OutgoingEmail) -> EmailMessage:
        message = EmailMessage(policy=_POLICY)
        message["From"] = self._from
        message["To"] = email_to_send.to
        message["Subject"] = email_to_send.subject
        message["Date"] = email.utils.formatdate(localtime=False)
        message["Message-ID"] = email.utils.make_msgid(domain=self._msgid_domain)
        for header, value in email_to_send.headers.items():
            message[header] = value
        message.set_content(email_to_send.text_body)
        if email_to_send.html_body:
            message.add_alternative(email_to_send.html_body, subtype="html")
        return message

    async def send(self, email_to_send: OutgoingEmail) -> str:
        try:
            message = self.build(email_to_send)
            raw = _flatten(message)
        except (ValueError, UnicodeError):
            # E.g. an address that cannot be written in 7-bit headers.
            raise ProviderRejectedError("message cannot be encoded") from None
        try:
            await aiosmtplib.send(
                raw,
                sender=self._envelope_from,
                recipients=[email_to_send.to],
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                start_tls=self._start_tls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as err:
            # Greylisting (4xx) passes on retry; a 5xx refusal never will.
            if all(400 <= r.code < 500 for r in err.recipients):
                raise ProviderTransientError("recipient deferred") from None
            raise ProviderRejectedError("recipient refused") from None
        except aiosmtplib.SMTPResponseException as err:
            if 500 <= err.code < 600:
                raise ProviderRejectedError(f"smtp {err.code}") from None
            raise ProviderTransientError(f"smtp {err.code}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as err:
            raise ProviderTransientError(type(err).__name__) from None
        return str(message["Message-ID"])

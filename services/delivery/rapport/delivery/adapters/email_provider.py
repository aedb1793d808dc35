"""Email over SMTP: STARTTLS, authentication, multipart text + HTML.

The SMTP conversation is driven step by step so a failure says whether the
relay may have the mail: anything before DATA (connection, STARTTLS, AUTH,
MAIL, RCPT) failing means it certainly does not, and a reply refusing the DATA
says so too; only a DATA left without an answer (timeout, dropped connection)
is ambiguous. SMTP has no idempotency key, so such a mail is never handed to
another provider.
"""

from __future__ import annotations

import email.generator
import email.policy
import email.utils
import io
from email.message import EmailMessage

import aiosmtplib

from .providers import (
    OutgoingMessage,
    Provider,
    ProviderOutcomeUnknown,
    ProviderRejectedError,
    ProviderUnavailable,
)


def _sender_domain(email_from: str) -> str:
    _, address = email.utils.parseaddr(email_from)
    return address.rpartition("@")[2] or "localhost"


# 7-bit safe whatever the server supports, and no folding of our long header values
# (some readers keep the fold's whitespace).
_POLICY = email.policy.SMTP.clone(max_line_length=998, cte_type="7bit")

# Whatever the network or the server does wrong without giving an SMTP reply.
_NO_REPLY = (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError, TimeoutError)


def _flatten(message: EmailMessage) -> bytes:
    buffer = io.BytesIO()
    email.generator.BytesGenerator(buffer, policy=_POLICY).flatten(message)
    return buffer.getvalue()


def _refusal(code: int, step: str) -> Exception:
    # 4xx: the relay cannot take it now (another relay might); 5xx: it never will.
    if 500 <= code < 600:
        return ProviderRejectedError(f"smtp {step} {code}")
    return ProviderUnavailable(f"smtp {step} {code}")


class SmtpEmailProvider(Provider):
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
        ca_file: str | None = None,
        name: str = "smtp",
    ) -> None:
        self.name = name
        self._host = host
        self._port = port
        self._from = email_from
        self._timeout = timeout_seconds
        self._username = username
        self._password = password
        self._start_tls = start_tls
        self._ca_file = ca_file
        # Given explicitly: make_msgid would otherwise resolve this host's FQDN.
        self._msgid_domain = _sender_domain(email_from)
        self._envelope_from = email.utils.parseaddr(email_from)[1]

    def build(self, outgoing: OutgoingMessage) -> EmailMessage:
        message = EmailMessage(policy=_POLICY)
        message["From"] = self._from
        message["To"] = outgoing.to
        message["Subject"] = outgoing.subject
        message["Date"] = email.utils.formatdate(localtime=False)
        message["Message-ID"] = email.utils.make_msgid(domain=self._msgid_domain)
        for header, value in outgoing.headers.items():
            message[header] = value
        message.set_content(outgoing.text_body)
        if outgoing.html_body:
            message.add_alternative(outgoing.html_body, subtype="html")
        return message

    async def send(self, outgoing: OutgoingMessage) -> str:
        try:
            message = self.build(outgoing)
            raw = _flatten(message)
        except (ValueError, UnicodeError):
            # E.g. an address that cannot be written in 7-bit headers.
            raise ProviderRejectedError("message cannot be encoded") from None
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            start_tls=self._start_tls,
            timeout=self._timeout,
            cert_bundle=self._ca_file,
        )
        try:
            await self._connect(client)
            await self._envelope(client, outgoing.to)
            await self._data(client, raw)
        finally:
            client.close()
        return str(message["Message-ID"])

    @staticmethod
    async def _connect(client: aiosmtplib.SMTP) -> None:
        """Connect, EHLO, STARTTLS and AUTH as configured: nothing is sent yet."""
        try:
            await client.connect()
        except aiosmtplib.SMTPResponseException as err:
            # A refused login or STARTTLS is the relay's (or our configuration's) fault,
            # never the message's: another relay may take it.
            raise ProviderUnavailable(f"smtp connect {err.code}") from None
        except (aiosmtplib.SMTPException, *_NO_REPLY) as err:
            raise ProviderUnavailable(type(err).__name__) from None

    async def _envelope(self, client: aiosmtplib.SMTP, recipient: str) -> None:
        try:
            await client.mail(self._envelope_from)
            await client.rcpt(recipient)
        except ValueError:
            # An address SMTP cannot carry (checked by aiosmtplib before sending it).
            raise ProviderRejectedError("smtp address") from None
        except aiosmtplib.SMTPRecipientRefused as err:
            raise _refusal(err.code, "rcpt") from None
        except aiosmtplib.SMTPResponseException as err:
            raise _refusal(err.code, "mail") from None
        except (aiosmtplib.SMTPException, *_NO_REPLY) as err:
            raise ProviderUnavailable(type(err).__name__) from None

    @staticmethod
    async def _data(client: aiosmtplib.SMTP, raw: bytes) -> None:
        try:
            await client.data(raw)
        except aiosmtplib.SMTPResponseException as err:
            raise _refusal(err.code, "data") from None
        except (aiosmtplib.SMTPException, *_NO_REPLY) as err:
            # The mail went out and no reply came back: the relay may have taken it.
            raise ProviderOutcomeUnknown(type(err).__name__) from None
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, *_NO_REPLY):
            pass  # the relay took the mail; a failed goodbye changes nothing

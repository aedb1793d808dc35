"""Email over SMTP: STARTTLS, authentication, multipart text + HTML.

The SMTP conversation is driven step by step so a failure says whether the
relay may have the mail: anything before DATA (connection, STARTTLS, AUTH,
MAIL, RCPT) failing means it certainly does not, and a reply refusing the DATA
says so too; only a DATA left without an answer (timeout, dropped connection)
is ambiguous. SMTP has no idempotency key, so such a mail is never handed to
another provider.

Sessions are reused: after a mail is taken, its connection is kept (up to
max_idle_sessions) and the next mail starts with MAIL FROM on it; a kept session
the relay closed meanwhile fails before anything is sent, and a new one is opened.
"""

from __future__ import annotations

import email.generator
import email.policy
import email.utils
import io
import random
import re
import sys
from email.message import EmailMessage

import aiosmtplib
from aiosmtplib.email import quote_address

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


# The fast path (SmtpEmailProvider.raw) writes mails whose every part EmailMessage would
# write unchanged, byte for byte: a plain address, non-empty headers of printable ASCII with
# single spaces and no encoded word, ASCII bodies of short lines. Anything else goes
# through EmailMessage.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_PLAIN_VALUE = re.compile(r"[!-~]+(?: [!-~]+)*")
_HEADER_NAME = re.compile(r"[!-9;-~]+")
_PLAIN_BODY = re.compile(r"[ -~\t\n]*")
# Header names EmailMessage parses (addresses, dates...): never on the fast path.
_STRUCTURED = frozenset(
    {"bcc", "cc", "content-disposition", "content-transfer-encoding", "content-type", "date",
     "from", "message-id", "mime-version", "orig-date", "reply-to", "resent-bcc", "resent-cc",
     "resent-date", "resent-from", "resent-sender", "resent-to", "sender", "subject", "to"}
)  # fmt: skip
_MAX_LINE = 998


def _plain_header(name: str, value: str) -> bool:
    return (
        _HEADER_NAME.fullmatch(name) is not None
        and _PLAIN_VALUE.fullmatch(value) is not None
        and "=?" not in value
        and len(name) + 2 + len(value) <= _MAX_LINE
    )


def _plain_body(text: str) -> bool:
    return _PLAIN_BODY.fullmatch(text) is not None and all(
        len(line) <= _MAX_LINE for line in text.split("\n")
    )


def _text_part(text: str, subtype: str, *, mime_version: bool) -> str:
    body = text if text.endswith("\n") else text + "\n"
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\n'
        "Content-Transfer-Encoding: 7bit\n"
        + ("MIME-Version: 1.0\n" if mime_version else "")
        + "\n"
        + body
    )


def _quoted(address: str) -> bytes | None:
    """MAIL's `FROM:<address>` as aiosmtplib's mail() writes it; None when it refuses it."""
    try:
        return b"FROM:" + quote_address(address).encode("ascii")
    except ValueError:  # UnicodeEncodeError included
        return None


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
        max_idle_sessions: int = 8,
    ) -> None:
        self.name = name
        # Open SMTP sessions kept between mails (one per concurrent sender at most).
        self._idle: list[aiosmtplib.SMTP] = []
        self._max_idle = max_idle_sessions
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
        # MAIL's argument as aiosmtplib's mail() writes it, written once (None: mail()
        # writes it, or refuses it, each time).
        self._mail_from = _quoted(self._envelope_from)
        # The fast path writes From as given: only when EmailMessage writes it so too.
        self._plain_from = self._written_from(email_from) == email_from

    @staticmethod
    def _written_from(email_from: str) -> str | None:
        probe = EmailMessage(policy=_POLICY)
        try:
            probe["From"] = email_from
            written = _flatten(probe).decode("ascii")
        except (ValueError, UnicodeError):
            return None
        value = written.removeprefix("From: ").removesuffix("\r\n\r\n")
        return value if "\r\n" not in value else None

    def raw(self, outgoing: OutgoingMessage) -> tuple[bytes, str]:
        """(the mail as sent, its Message-ID). ValueError or UnicodeError when it cannot
        be written."""
        fast = self._fast_raw(outgoing)
        if fast is not None:
            return fast
        message = self.build(outgoing)
        return _flatten(message), str(message["Message-ID"])

    def _fast_raw(self, outgoing: OutgoingMessage) -> tuple[bytes, str] | None:
        """What build + _flatten write, written directly; None when the mail needs
        EmailMessage (see _PLAIN_ADDRESS...)."""
        if not self._plain_from or _PLAIN_ADDRESS.fullmatch(outgoing.to) is None:
            return None
        if not _plain_header("Subject", outgoing.subject):
            return None
        for name, value in outgoing.headers.items():
            if name.lower() in _STRUCTURED or not _plain_header(name, value):
                return None
        html = outgoing.html_body or ""
        if not _plain_body(outgoing.text_body) or not _plain_body(html):
            return None
        message_id = email.utils.make_msgid(domain=self._msgid_domain)
        head = [
            f"From: {self._from}",
            f"To: {outgoing.to}",
            f"Subject: {outgoing.subject}",
            f"Date: {email.utils.formatdate(localtime=False)}",
            f"Message-ID: {message_id}",
            *(f"{name}: {value}" for name, value in outgoing.headers.items()),
        ]
        if not html:
            text = "\n".join(head) + "\n"
            text += _text_part(outgoing.text_body, "plain", mime_version=True)
        else:
            boundary = "=" * 15 + f"{random.randrange(sys.maxsize):019d}" + "=="
            if boundary in outgoing.text_body or boundary in html:
                return None
            text = (
                "\n".join(head)
                + "\nMIME-Version: 1.0"
                + f'\nContent-Type: multipart/alternative; boundary="{boundary}"\n\n'
                + f"--{boundary}\n"
                + _text_part(outgoing.text_body, "plain", mime_version=False)
                + f"\n--{boundary}\n"
                + _text_part(html, "html", mime_version=True)
                + f"\n--{boundary}--\n"
            )
        return text.replace("\n", "\r\n").encode("ascii"), message_id

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
            raw, message_id = self.raw(outgoing)
        except (ValueError, UnicodeError):
            # E.g. an address that cannot be written in 7-bit headers.
            raise ProviderRejectedError("message cannot be encoded") from None
        client = await self._session(outgoing.to)
        try:
            await self._data(client, raw)
        except BaseException:
            client.close()
            raise
        self._keep(client)
        return message_id

    def _new_client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            start_tls=self._start_tls,
            timeout=self._timeout,
            cert_bundle=self._ca_file,
        )

    async def _session(self, recipient: str) -> aiosmtplib.SMTP:
        """A session with the envelope (MAIL, RCPT) accepted: an idle one kept from an
        earlier mail (SMTP sessions carry many mails), else a new one. A kept session
        the relay dropped meanwhile fails before anything was sent: a new one is tried."""
        while self._idle:
            client = self._idle.pop()
            try:
                await self._envelope(client, recipient)
            except ProviderUnavailable:
                client.close()  # stale: the relay closed it, or it timed out
                continue
            except BaseException:
                client.close()
                raise
            return client
        client = self._new_client()
        try:
            await self._connect(client)
            await self._envelope(client, recipient)
        except BaseException:
            client.close()
            raise
        return client

    def _keep(self, client: aiosmtplib.SMTP) -> None:
        if len(self._idle) < self._max_idle and client.is_connected:
            self._idle.append(client)
        else:
            client.close()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, *_NO_REPLY):
                pass
            finally:
                client.close()

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
            if (
                self._mail_from is not None
                and not client.is_ehlo_or_helo_needed
                and _PLAIN_ADDRESS.fullmatch(recipient) is not None
            ):
                # What mail() and rcpt() send and how they read the replies, without
                # parsing both addresses again for every mail (rcpt() writes a plain
                # address as it is: test_delivery_email_fast_path holds them equal).
                reply = await client.execute_command(b"MAIL", self._mail_from)
                if reply.code != aiosmtplib.SMTPStatus.completed:
                    raise aiosmtplib.SMTPSenderRefused(
                        reply.code, reply.message, self._envelope_from
                    )
                reply = await client.execute_command(b"RCPT", b"TO:<" + recipient.encode() + b">")
                if reply.code not in (
                    aiosmtplib.SMTPStatus.completed,
                    aiosmtplib.SMTPStatus.will_forward,
                ):
                    raise aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, recipient)
            else:
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

"""A local SMTP server that saves each mail it receives as an .eml file a user can open."""

from __future__ import annotations

import itertools
import logging
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)


class _SaveToFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._counter = itertools.count(1)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        path = self.folder / f"{stamp}-{next(self._counter):04d}.eml"
        path.write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


class MailSink:
    """aiosmtpd on 127.0.0.1:`port` writing every received mail into `folder`."""

    def __init__(self, folder: Path, port: int = 2525, hostname: str = "127.0.0.1") -> None:
        self.folder = folder
        self.port = port
        self.hostname = hostname
        self._controller: Controller | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(
            _SaveToFolder(self.folder), hostname=self.hostname, port=self.port
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[tuple[Path, EmailMessage]]:
        """Every saved mail, oldest first, parsed."""
        found = []
        for path in sorted(self.folder.glob("*.eml")):
            parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
            found.append((path, parsed))
        return found

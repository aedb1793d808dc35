"""`make run`: the five services, the mail sink and the demo catalogue on 127.0.0.1.

Ports and folders can be overridden with RAPPORT_LOCAL_<SERVICE>_PORT,
RAPPORT_LOCAL_SMTP_PORT and RAPPORT_LOCAL_DATA_DIR.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from rapport.localsuite.mail_sink import MailSink
from rapport.localsuite.suite import DEFAULT_PORTS, SERVICES, Suite, SuiteLayout

PACKAGES = {
    "identity": "rapport.identity.v1.IdentityService",
    "profile": "rapport.profile.v1.ProfileService",
    "consent": "rapport.consent.v1.ConsentService",
    "decisioning": "rapport.decisioning.v1.DecisioningService",
    "delivery": "rapport.delivery.v1.DeliveryService",
}


def layout_from_environment() -> SuiteLayout:
    ports = {
        s: int(os.environ.get(f"RAPPORT_LOCAL_{s.upper()}_PORT", DEFAULT_PORTS[s]))
        for s in SERVICES
    }
    return SuiteLayout(
        data_dir=Path(os.environ.get("RAPPORT_LOCAL_DATA_DIR", ".data")).resolve(),
        smtp_port=int(os.environ.get("RAPPORT_LOCAL_SMTP_PORT", "2525")),
        ports=ports,
    )


def banner(layout: SuiteLayout, mail_folder: Path) -> str:
    lines = ["", "Rapport is running:", ""]
    for service in SERVICES:
        lines.append(f"  {service:<12} {layout.address(service):<17} {PACKAGES[service]}")
    identity = layout.address("identity")
    lines += [
        "",
        f"  SMTP sink    127.0.0.1:{layout.smtp_port:<7}  mails saved in {mail_folder}/",
        f"  data, logs   {layout.data_dir}/ (SQLite files, logs/<service>.log)",
        "",
        "Call a service through reflection with buf (installed by make under .tools/):",
        "  .tools/node_modules/.bin/buf curl --protocol grpc --http2-prior-knowledge \\",
        f"    --list-methods http://{identity}",
        "  .tools/node_modules/.bin/buf curl --protocol grpc --http2-prior-knowledge \\",
        "    -d '{\"parent\":\"workspaces/default\",\"identifiers\":"
        "[{\"type\":\"email\",\"value\":\"ada@example.com\"}]}' \\",
        f"    http://{identity}/rapport.identity.v1.IdentityService/Resolve",
        "",
        "Play the demo scenario in another terminal:  make demo",
        "Stop with Ctrl-C.",
        "",
    ]
    return "\n".join(lines)


async def main() -> int:
    layout = layout_from_environment()
    mail_folder = layout.data_dir / "mail"
    sink = MailSink(mail_folder, port=layout.smtp_port)
    sink.start()
    suite = Suite(layout)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        suite.start()
        try:
            await suite.wait_until_serving(within_seconds=30)
        except (RuntimeError, TimeoutError) as exc:
            print(f"Rapport did not start: {exc}", file=sys.stderr)
            return 1
        print(banner(layout, mail_folder), flush=True)
        await stop.wait()
        print("Stopping: draining every service...", flush=True)
        return 0
    finally:
        codes = await asyncio.to_thread(suite.stop)
        sink.stop()
        if codes:
            print("Stopped: " + ", ".join(f"{s} exit {c}" for s, c in codes.items()), flush=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""`make run`: the five services, the mail sink, the SMS/push/webhook stand-ins and the
demo catalogue on 127.0.0.1.

Ports and folders can be overridden with RAPPORT_LOCAL_<SERVICE>_PORT,
RAPPORT_LOCAL_SMTP_PORT, RAPPORT_LOCAL_PROVIDERS_PORT and RAPPORT_LOCAL_DATA_DIR.
Authentication is on, as in production: a bearer token is made at start and written to
<data dir>/token
(RAPPORT_LOCAL_AUTH=off turns it off).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import sys
from pathlib import Path

from rapport.localsuite.mail_sink import MailSink
from rapport.localsuite.provider_sinks import ProviderSinks, new_webhook_secret
from rapport.localsuite.suite import (
    DEFAULT_HTTP_PORTS,
    DEFAULT_PORTS,
    SERVICES,
    TOKEN_FILE,
    Suite,
    SuiteLayout,
)

PACKAGES = {
    "identity": "rapport.identity.v1.IdentityService",
    "profile": "rapport.profile.v1.ProfileService",
    "consent": "rapport.consent.v1.ConsentService",
    "decisioning": "rapport.decisioning.v1.DecisioningService",
    "delivery": "rapport.delivery.v1.DeliveryService",
}
# What each HTTP endpoint is for (the banner).
HTTP_USES = {
    "profile": "Segment-compatible collector (/v1/batch, /v1/track...)",
    "delivery": "unsubscribe links, open/click tracking, provider callbacks (/v1/providers/...)",
}


def layout_from_environment() -> SuiteLayout:
    ports = {
        s: int(os.environ.get(f"RAPPORT_LOCAL_{s.upper()}_PORT", DEFAULT_PORTS[s]))
        for s in SERVICES
    }
    http_ports = {
        s: int(os.environ.get(f"RAPPORT_LOCAL_{s.upper()}_HTTP_PORT", port))
        for s, port in DEFAULT_HTTP_PORTS.items()
    }
    auth = os.environ.get("RAPPORT_LOCAL_AUTH", "on").lower() not in ("off", "0", "false")
    return SuiteLayout(
        data_dir=Path(os.environ.get("RAPPORT_LOCAL_DATA_DIR", ".data")).resolve(),
        smtp_port=int(os.environ.get("RAPPORT_LOCAL_SMTP_PORT", "2525")),
        ports=ports,
        http_ports=http_ports,
        auth_token=secrets.token_urlsafe(24) if auth else None,
        write_key=os.environ.get("RAPPORT_LOCAL_WRITE_KEY") or secrets.token_urlsafe(18),
    )


def busy_ports(layout: SuiteLayout, providers_port: int) -> list[str]:
    """What already listens where this suite would (another `make run`, most often)."""
    wanted = {f"{s} gRPC": layout.ports[s] for s in SERVICES}
    wanted |= {f"{s} HTTP": port for s, port in layout.http_ports.items() if port}
    wanted |= {"SMTP sink": layout.smtp_port, "SMS/push/webhook stand-ins": providers_port}
    busy = []
    for what, port in wanted.items():
        with socket.socket() as probe:
            # As the servers bind: a just-stopped run's TIME_WAIT does not count, while a
            # listener does (gRPC's SO_REUSEPORT would otherwise share the port with it).
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                busy.append(f"127.0.0.1:{port} ({what})")
    return busy


def write_token(layout: SuiteLayout) -> Path | None:
    """Where `make demo` and buf curl find this run's token (readable by the owner only)."""
    token_file = layout.data_dir / TOKEN_FILE
    token_file.unlink(missing_ok=True)
    if layout.auth_token is None:
        return None
    layout.data_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(layout.auth_token + "\n")
    return token_file


def banner(
    layout: SuiteLayout, mail_folder: Path, sinks: ProviderSinks, token_file: Path | None
) -> str:
    lines = ["", "Rapport is running:", ""]
    for service in SERVICES:
        lines.append(f"  {service:<12} {layout.address(service):<17} {PACKAGES[service]}")
    for service, port in layout.http_ports.items():
        uses = HTTP_USES.get(service, "")
        lines.append(f"  {service:<12} http://127.0.0.1:{port}  {uses}")
    identity = layout.address("identity")
    header = f' \\\n    -H "authorization: Bearer $(cat {token_file})"' if token_file else ""
    lines += [
        "",
        f"  SMTP sink    127.0.0.1:{layout.smtp_port:<7}  mails saved in {mail_folder}/",
        f"  SMS, push    127.0.0.1:{sinks.port:<7}  saved in {sinks.folder}/sms/ and push/",
        f"  webhooks     127.0.0.1:{sinks.port:<7}  saved in {sinks.folder}/webhooks/",
        f"  data, logs   {layout.data_dir}/ (SQLite files, logs/<service>.log)",
        f"  auth         bearer token in {token_file}" if token_file else "  auth         off",
        f"  write key    {layout.write_key}  (Segment libraries: host "
        f"http://{layout.http_address('profile')}, workspace default)"
        if layout.write_key and "profile" in layout.http_ports
        else "  write key    none",
        "",
        "Call a service through reflection with buf (installed by make under .tools/):",
        "  .tools/node_modules/.bin/buf curl --protocol grpc --http2-prior-knowledge \\",
        f"    --list-methods http://{identity}",
        "  .tools/node_modules/.bin/buf curl --protocol grpc --http2-prior-knowledge"
        + header
        + " \\",
        '    -d \'{"parent":"workspaces/default","identifiers":'
        '[{"type":"email","value":"ada@example.com"}]}\' \\',
        f"    http://{identity}/rapport.identity.v1.IdentityService/Resolve",
        "",
        "Play the demo scenario in another terminal:  make demo",
        "Stop with Ctrl-C.",
        "",
    ]
    return "\n".join(lines)


async def main() -> int:
    layout = layout_from_environment()
    providers_port = int(os.environ.get("RAPPORT_LOCAL_PROVIDERS_PORT", "2580"))
    if busy := busy_ports(layout, providers_port):
        print(
            f"Rapport did not start: in use: {', '.join(busy)}. Is `make run` already "
            "running? (RAPPORT_LOCAL_<...>_PORT move each port.)",
            file=sys.stderr,
        )
        return 1
    mail_folder = layout.data_dir / "mail"
    sink = MailSink(mail_folder, port=layout.smtp_port)
    sink.start()
    sinks = ProviderSinks(layout.data_dir, webhook_secret=new_webhook_secret(), port=providers_port)
    await sinks.start()
    # Delivery's SMS, push and webhook providers point at the stand-ins.
    layout.extra_env.update(sinks.delivery_environment())
    token_file = write_token(layout)
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
        print(banner(layout, mail_folder, sinks, token_file), flush=True)
        await stop.wait()
        print("Stopping: draining every service...", flush=True)
        return 0
    finally:
        codes = await asyncio.to_thread(suite.stop)
        sink.stop()
        await sinks.stop()
        if codes:
            print("Stopped: " + ", ".join(f"{s} exit {c}" for s, c in codes.items()), flush=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

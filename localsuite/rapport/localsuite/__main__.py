"""`make run`: the five services, the mail sink, the SMS/push/webhook stand-ins and the
demo catalogue on 127.0.0.1.

Ports and folders can be overridden with RAPPORT_LOCAL_<SERVICE>_PORT,
RAPPORT_LOCAL_SMTP_PORT, RAPPORT_LOCAL_PROVIDERS_PORT and RAPPORT_LOCAL_DATA_DIR.
Authentication is on, as in production: a bearer token is made at start and written to
<data dir>/token
(RAPPORT_LOCAL_AUTH=off turns it off).

Kept in the data folder from one run to the next: the collector's write key
(<data dir>/write_key; RAPPORT_LOCAL_WRITE_KEY sets it) and delivery's unsubscribe
signing secret (<data dir>/unsubscribe_secret; RAPPORT_DELIVERY_UNSUBSCRIBE_SECRET sets
it), so Segment libraries and the links of mails already sent keep working.

Every service must be SERVING within RAPPORT_LOCAL_START_TIMEOUT seconds (default 120).
A service that ends on its own stops the suite: the suite says which and how, shows the
end of its log, stops the others and exits with 1. Restarting it instead would hide a
crash (and loop on one that happens at start); as with foreman or honcho, the developer
sees it, fixes it and runs `make run` again.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rapport.localsuite.kept_values import Kept, kept_value
from rapport.localsuite.mail_sink import MailSink
from rapport.localsuite.provider_sinks import ProviderSinks, new_webhook_secret
from rapport.localsuite.suite import (
    DEFAULT_HTTP_PORTS,
    DEFAULT_PORTS,
    SERVICES,
    TOKEN_FILE,
    UNSUBSCRIBE_SECRET_FILE,
    WRITE_KEY_FILE,
    NotServing,
    ServiceExited,
    Suite,
    SuiteLayout,
    how_it_ended,
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
START_TIMEOUT_VARIABLE = "RAPPORT_LOCAL_START_TIMEOUT"
# Generous: under load (a build, a load average of 6) a service took over 30 s.
DEFAULT_START_TIMEOUT = 120.0
# Due time-window triggers are looked for this often (decisioning's default is 5 s).
TRIGGER_SCHEDULE_POLL = "1"
TIME_WINDOW_LATE_AFTER = "7200"


@dataclass(frozen=True)
class KeptValues:
    """What `make run` keeps in its data folder across runs, and where each came from."""

    write_key: Kept
    unsubscribe_secret: Kept


def start_timeout(environ: Mapping[str, str]) -> float:
    """How long every service has to be SERVING; ValueError naming the variable."""
    text = environ.get(START_TIMEOUT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_START_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise ValueError(f"{START_TIMEOUT_VARIABLE} must be a number of seconds above 0")
    return seconds


def layout_from_environment(
    environ: Mapping[str, str] = os.environ,
) -> tuple[SuiteLayout, KeptValues]:
    ports = {
        s: int(environ.get(f"RAPPORT_LOCAL_{s.upper()}_PORT", DEFAULT_PORTS[s])) for s in SERVICES
    }
    http_ports = {
        s: int(environ.get(f"RAPPORT_LOCAL_{s.upper()}_HTTP_PORT", port))
        for s, port in DEFAULT_HTTP_PORTS.items()
    }
    auth = environ.get("RAPPORT_LOCAL_AUTH", "on").lower() not in ("off", "0", "false")
    data_dir = Path(environ.get("RAPPORT_LOCAL_DATA_DIR", ".data")).resolve()
    kept = KeptValues(
        write_key=kept_value(
            data_dir / WRITE_KEY_FILE,
            lambda: secrets.token_urlsafe(18),
            variable="RAPPORT_LOCAL_WRITE_KEY",
            environ=environ,
        ),
        unsubscribe_secret=kept_value(
            data_dir / UNSUBSCRIBE_SECRET_FILE,
            lambda: secrets.token_urlsafe(32),
            variable="RAPPORT_DELIVERY_UNSUBSCRIBE_SECRET",
            environ=environ,
        ),
    )
    layout = SuiteLayout(
        data_dir=data_dir,
        smtp_port=int(environ.get("RAPPORT_LOCAL_SMTP_PORT", "2525")),
        ports=ports,
        http_ports=http_ports,
        auth_token=secrets.token_urlsafe(24) if auth else None,
        write_key=kept.write_key.value,
        unsubscribe_secret=kept.unsubscribe_secret.value,
    )
    return layout, kept


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


@dataclass(frozen=True)
class Started:
    """What the banner tells about this run beyond the layout."""

    mail_folder: Path
    sinks: ProviderSinks
    token_file: Path | None
    kept: KeptValues
    ready_seconds: float
    start_timeout: float


def banner(layout: SuiteLayout, started: Started) -> str:
    lines = ["", "Rapport is running:", ""]
    for service in SERVICES:
        lines.append(f"  {service:<12} {layout.address(service):<17} {PACKAGES[service]}")
    for service, port in layout.http_ports.items():
        uses = HTTP_USES.get(service, "")
        lines.append(f"  {service:<12} http://127.0.0.1:{port}  {uses}")
    identity = layout.address("identity")
    token_file, sinks, kept = started.token_file, started.sinks, started.kept
    header = f' \\\n    -H "authorization: Bearer $(cat {token_file})"' if token_file else ""
    if layout.write_key and "profile" in layout.http_ports:
        write_key = [
            f"  write key    {layout.write_key}  (Segment libraries: host "
            f"http://{layout.http_address('profile')}, workspace default)",
            f"               {kept.write_key.origin}; the same every run "
            "(RAPPORT_LOCAL_WRITE_KEY sets another)",
        ]
    else:
        write_key = ["  write key    none"]
    lines += [
        "",
        f"  SMTP sink    127.0.0.1:{layout.smtp_port:<7}  mails saved in {started.mail_folder}/",
        f"  SMS, push    127.0.0.1:{sinks.port:<7}  saved in {sinks.folder}/sms/ and push/",
        f"  webhooks     127.0.0.1:{sinks.port:<7}  saved in {sinks.folder}/webhooks/",
        f"  data, logs   {layout.data_dir}/ (SQLite files, logs/<service>.log)",
        f"  auth         bearer token in {token_file} (new every run)"
        if token_file
        else "  auth         off",
        *write_key,
        f"  unsubscribe  links signed with a secret {kept.unsubscribe_secret.origin} "
        "(they work after a restart)",
        f"  start-up     every service SERVING in {started.ready_seconds:.1f} s "
        f"(at most {started.start_timeout:g} s: {START_TIMEOUT_VARIABLE})",
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
        "Stop with Ctrl-C. A service that ends on its own stops the suite, saying which.",
        "",
    ]
    return "\n".join(lines)


async def finished_before(work: asyncio.Future, stop: asyncio.Event) -> bool:
    """Whether `work` finished before `stop` was set; if not, `work` is cancelled."""
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if work.done():
        return True
    work.cancel()
    await asyncio.gather(work, return_exceptions=True)
    return False


async def main() -> int:
    try:
        timeout = start_timeout(os.environ)
    except ValueError as exc:
        print(f"Rapport did not start: {exc}", file=sys.stderr)
        return 1
    layout, kept = layout_from_environment()
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
    # `make demo`'s reminder is a time-window trigger: it fires within a second or so.
    layout.extra_env.setdefault(
        "RAPPORT_DECISIONING_TRIGGER_SCHEDULE_POLL_SECONDS", TRIGGER_SCHEDULE_POLL
    )
    # Its customer lives where it is 09:xx (the send time): a little slack past the
    # hour, should the demo start at 09:59 on their clock.
    layout.extra_env.setdefault(
        "RAPPORT_DECISIONING_TIME_WINDOW_LATE_AFTER_SECONDS", TIME_WINDOW_LATE_AFTER
    )
    token_file = write_token(layout)
    suite = Suite(layout)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        began = loop.time()
        suite.start()
        serving = asyncio.ensure_future(suite.wait_until_serving(within_seconds=timeout))
        if not await finished_before(serving, stop):
            print("Stopping before every service was SERVING...", flush=True)
            return 0
        try:
            serving.result()
        except ServiceExited as exc:
            print(f"Rapport did not start: {exc}", file=sys.stderr)
            return 1
        except NotServing as exc:
            print(
                f"Rapport did not start: {exc}. A slow machine may need longer: "
                f"{START_TIMEOUT_VARIABLE}=<seconds> (now {timeout:g}).",
                file=sys.stderr,
            )
            return 1
        started = Started(mail_folder, sinks, token_file, kept, loop.time() - began, timeout)
        print(banner(layout, started), flush=True)
        ended = asyncio.ensure_future(suite.first_exit())
        if await finished_before(ended, stop):
            print(
                f"\nRapport is stopping: {ended.result()}\nStopping the other services...",
                file=sys.stderr,
                flush=True,
            )
            return 1
        print("Stopping: draining every service...", flush=True)
        return 0
    finally:
        codes = await asyncio.to_thread(suite.stop)
        sink.stop()
        await sinks.stop()
        if codes:
            print(
                "Stopped: " + ", ".join(f"{s} {how_it_ended(c)}" for s, c in codes.items()),
                flush=True,
            )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

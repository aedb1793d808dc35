"""What lets local runs repeat and coexist: `make demo` can be played again and again
against one `make run` (each run is a new customer: the contact limit would hold a second
reminder to the same one back; a demo that gives up says so in a line, not a traceback),
a suite laid out on free ports (the end-to-end tests) never needs `make run`'s, and a
second `make run` names the ports in use instead of sharing them with the first."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from rapport.identity.domain.rules import normalise_email, normalise_phone
from rapport.localsuite import SERVICES, SuiteLayout, demo
from rapport.localsuite.__main__ import busy_ports


def normalised(tag: str) -> tuple[str, str]:
    email, phone = demo.fresh_identity(tag)
    return normalise_email(email.strip(), "email", fold=False), normalise_phone(
        phone, "US", "phone"
    )


def test_each_run_plays_a_new_customer_with_valid_identifiers() -> None:
    # Runs' tags are random: two share a phone number only when 130,000 apart (mod 2^32).
    tags = [f"{n:08x}" for n in range(0, 4000, 3)] + ["ffffffff"]
    emails, phones = zip(*(normalised(tag) for tag in tags), strict=True)
    assert len(set(emails)) == len(tags)
    assert len(set(phones)) == len(tags)
    assert all(e.startswith("ada.lovelace.") for e in emails)  # still normalised


def test_a_demo_that_times_out_fails_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    played: dict[str, str] = {}

    async def no_reminder(addresses, *, token=None, email, phone, **_):
        played.update(email=email, phone=phone)
        raise TimeoutError("no renewal reminder was sent in time")

    monkeypatch.setattr(demo, "play", no_reminder)
    assert demo.main() == 1
    assert played["email"] != demo.EMAIL and played["phone"] != demo.PHONE
    out = capsys.readouterr().out
    assert out.startswith("demo failed: no renewal reminder was sent in time")
    assert "Traceback" not in out


def test_a_service_left_out_of_http_ports_never_takes_its_fixed_http_port(
    tmp_path: Path,
) -> None:
    # As the end-to-end tests lay a suite out: gRPC and delivery's HTTP on free ports.
    layout = SuiteLayout(data_dir=tmp_path, smtp_port=2525, http_ports={"delivery": 18055})
    assert layout.environment("delivery")["RAPPORT_DELIVERY_HTTP_PORT"] == "18055"
    for service in SERVICES:
        if service != "delivery":  # profile's collector would take 8052 from `make run`
            assert layout.environment(service)[f"RAPPORT_{service.upper()}_HTTP_PORT"] == "0"
    defaults = SuiteLayout(data_dir=tmp_path, smtp_port=2525)  # `make run`'s fixed ports
    assert defaults.environment("profile")["RAPPORT_PROFILE_HTTP_PORT"] == "8052"
    assert defaults.environment("delivery")["RAPPORT_DELIVERY_HTTP_PORT"] == "8055"


def test_a_second_make_run_names_the_ports_in_use_instead_of_sharing_them(
    tmp_path: Path,
) -> None:
    with socket.socket() as holder, socket.socket() as free:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        free.bind(("127.0.0.1", 0))
        taken, unused = holder.getsockname()[1], free.getsockname()[1]
        free.close()
        ports = {s: unused for s in SERVICES} | {"consent": taken}
        layout = SuiteLayout(
            data_dir=tmp_path, smtp_port=unused, ports=ports, http_ports={"profile": unused}
        )
        assert busy_ports(layout, providers_port=unused) == [f"127.0.0.1:{taken} (consent gRPC)"]
        assert busy_ports(layout, providers_port=taken)[-1] == (
            f"127.0.0.1:{taken} (SMS/push/webhook stand-ins)"
        )

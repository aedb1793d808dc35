"""Which peers each service of `make run` is pointed at: consent reaches the four others
(data subject requests), although decisioning and delivery call consent too."""

from __future__ import annotations

from pathlib import Path

import pytest
from rapport.consent.settings import ConsentSettings
from rapport.localsuite import SERVICES, SuiteLayout
from rapport.localsuite.suite import PEERS

CONSENT_PEERS = ("identity", "profile", "decisioning", "delivery")


def layout_on_own_ports(tmp_path: Path, token: str | None = "s3cret") -> SuiteLayout:
    ports = {service: 41000 + n for n, service in enumerate(SERVICES)}
    return SuiteLayout(data_dir=tmp_path, smtp_port=2525, ports=ports, auth_token=token)


def test_consent_is_given_every_other_service_and_the_token_to_call_them(
    tmp_path: Path,
) -> None:
    layout = layout_on_own_ports(tmp_path)
    environment = layout.environment("consent")

    for peer in CONSENT_PEERS:
        assert environment[f"RAPPORT_CONSENT_{peer.upper()}_ADDRESS"] == layout.address(peer)
    assert environment["RAPPORT_CONSENT_OUTBOUND_TOKEN"] == "s3cret"
    assert "RAPPORT_CONSENT_CONSENT_ADDRESS" not in environment


def test_services_calling_each_other_both_know_the_other(tmp_path: Path) -> None:
    layout = layout_on_own_ports(tmp_path)
    for caller, callee in (("consent", "decisioning"), ("consent", "delivery")):
        assert caller in PEERS[callee] and callee in PEERS[caller]
        assert layout.environment(caller)[
            f"RAPPORT_{caller.upper()}_{callee.upper()}_ADDRESS"
        ] == layout.address(callee)
        assert layout.environment(callee)[
            f"RAPPORT_{callee.upper()}_{caller.upper()}_ADDRESS"
        ] == layout.address(caller)


def test_every_peer_is_a_service_of_the_suite() -> None:
    assert set(PEERS) == set(SERVICES)
    for service, peers in PEERS.items():
        assert set(peers) <= set(SERVICES) - {service}, service


def test_consent_reads_the_addresses_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = layout_on_own_ports(tmp_path)
    for variable, value in layout.environment("consent").items():
        monkeypatch.setenv(variable, value)

    settings = ConsentSettings()

    assert settings.identity_address == layout.address("identity")
    assert settings.profile_address == layout.address("profile")
    assert settings.decisioning_address == layout.address("decisioning")
    assert settings.delivery_address == layout.address("delivery")

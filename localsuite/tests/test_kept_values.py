"""What `make run` keeps in its data folder from one run to the next: the collector's
write key (Segment libraries are configured with it) and delivery's unsubscribe signing
secret (the links of mails already sent carry tokens signed with it). A variable set in
the environment wins; the banner says where each comes from."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from rapport.delivery.bootstrap import closed_loop
from rapport.delivery.domain.model import Channel
from rapport.delivery.domain.unsubscribe import Unsubscribe
from rapport.delivery.settings import DeliverySettings
from rapport.localsuite.__main__ import layout_from_environment
from rapport.localsuite.suite import SuiteLayout


def a_run(data_dir: Path, **variables: str) -> tuple[SuiteLayout, object]:
    """What one `make run` in `data_dir` would configure."""
    return layout_from_environment({"RAPPORT_LOCAL_DATA_DIR": str(data_dir), **variables})


def test_the_write_key_and_the_unsubscribe_secret_survive_a_restart(tmp_path: Path) -> None:
    first, first_kept = a_run(tmp_path)
    again, again_kept = a_run(tmp_path)

    assert first.write_key and again.write_key == first.write_key
    assert first.unsubscribe_secret and again.unsubscribe_secret == first.unsubscribe_secret
    assert first.auth_token != again.auth_token  # the bearer token is new every run
    assert first_kept.write_key.origin == f"made now, kept in {tmp_path / 'write_key'}"
    assert again_kept.write_key.origin == f"from {tmp_path / 'write_key'}"
    assert again_kept.unsubscribe_secret.origin == f"from {tmp_path / 'unsubscribe_secret'}"
    for name in ("write_key", "unsubscribe_secret"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    # Profile and delivery are configured with them.
    assert first.write_key in again.environment("profile")["RAPPORT_PROFILE_WRITE_KEYS"]
    assert (
        again.environment("delivery")["RAPPORT_DELIVERY_UNSUBSCRIBE_SECRET"]
        == first.unsubscribe_secret
    )


def test_the_environment_sets_them_instead(tmp_path: Path) -> None:
    a_run(tmp_path)  # kept values exist, yet the variables win
    layout, kept = a_run(
        tmp_path,
        RAPPORT_LOCAL_WRITE_KEY="my-key",
        RAPPORT_DELIVERY_UNSUBSCRIBE_SECRET="my-secret",
    )
    assert (layout.write_key, layout.unsubscribe_secret) == ("my-key", "my-secret")
    assert kept.write_key.origin == "set by RAPPORT_LOCAL_WRITE_KEY"
    assert kept.unsubscribe_secret.origin == "set by RAPPORT_DELIVERY_UNSUBSCRIBE_SECRET"
    assert (tmp_path / "write_key").read_text().strip() != "my-key"  # the kept one stays


async def test_an_unsubscribe_link_of_the_last_run_works_in_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def delivery_as_configured(layout: SuiteLayout) -> DeliverySettings:
        with monkeypatch.context() as env:
            for variable, value in layout.environment("delivery").items():
                env.setenv(variable, value)
            return DeliverySettings()

    before, _ = a_run(tmp_path)
    after, _ = a_run(tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)  # tokens carry whole seconds
    link = Unsubscribe("default", "c1", Channel.EMAIL, "marketing", "m1", now)
    async with grpc.aio.insecure_channel("127.0.0.1:1") as unused:
        issued = closed_loop(
            delivery_as_configured(before), consent_channel=unused, profile_channel=unused
        ).tokens.issue(link)
        restarted = closed_loop(
            delivery_as_configured(after), consent_channel=unused, profile_channel=unused
        )
        assert restarted.tokens.read(issued, now) == link

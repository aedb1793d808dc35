"""The bus layout without a server: subjects, partitions, message ids, stream and
consumer configurations, settings."""

from __future__ import annotations

import pytest
from pydantic_settings import SettingsConfigDict
from rapport.config import ServiceSettings
from rapport.eventbus import (
    BadSubjectToken,
    ConsumerSpec,
    Delivery,
    DurableConsumer,
    LogSubjects,
    NatsBus,
    StreamSpec,
)
from rapport.eventbus._connection import safe_url


class EvSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RAPPORT_EVTEST_")
    service_name: str = "profile"


SIGNALS = LogSubjects("profile", "signals")


def test_a_record_s_subject_names_its_log_workspace_kind_and_partition() -> None:
    assert SIGNALS.root == "rapport.profile.signals"
    assert SIGNALS.stream == "RAPPORT_PROFILE_SIGNALS"
    assert SIGNALS.every_subject == "rapport.profile.signals.>"
    assert SIGNALS.subject("brand-b", "trait_changed", "c1") == (
        "rapport.profile.signals.brand-b.trait_changed.14"
    )
    assert SIGNALS.parse("rapport.profile.signals.brand-b.trait_changed.14") == (
        "brand-b",
        "trait_changed",
        14,
    )


def test_partitions_are_the_same_in_every_process_and_release() -> None:
    # Fixed values: a producer and its consumers, of any release, must agree.
    assert [SIGNALS.partition_of(key) for key in ("c1", "customer-42", "")] == [14, 10, 4]
    keys = [f"customer-{n}" for n in range(2000)]
    used = {SIGNALS.partition_of(key) for key in keys}
    assert used == set(range(16))  # spread over all of them
    assert LogSubjects("profile", "signals", partitions=1).partition_of("anything") == 0


@pytest.mark.parametrize("workspace", ["a.b", "*", ">", "with space", "", "x" * 129])
def test_a_value_that_is_not_one_subject_token_is_refused(workspace: str) -> None:
    with pytest.raises(BadSubjectToken):
        SIGNALS.subject(workspace, "seen", "c1")
    with pytest.raises(BadSubjectToken):
        SIGNALS.subject("default", workspace, "c1")


def test_a_log_layout_checks_its_own_names() -> None:
    with pytest.raises(BadSubjectToken):
        LogSubjects("profile", "signals", prefix="rapport..x")
    with pytest.raises(BadSubjectToken):
        LogSubjects("pro.file", "signals")
    with pytest.raises(ValueError):
        LogSubjects("profile", "signals", partitions=0)
    assert LogSubjects("profile", "signals", prefix="acme.rapport").root == (
        "acme.rapport.profile.signals"
    )


def test_subjects_of_other_logs_do_not_parse() -> None:
    for subject in (
        "rapport.identity.changes.default.merged.1",
        "rapport.profile.signals.default.seen",
        "rapport.profile.signals.default.seen.x",
        "rapport.profile.signals.a.b.seen.1",
    ):
        with pytest.raises(ValueError):
            SIGNALS.parse(subject)


def test_filters_narrow_by_workspace_kind_and_partition() -> None:
    assert SIGNALS.filter() == "rapport.profile.signals.*.*.*"
    assert SIGNALS.filter(kind="segment_entered", partition=3) == (
        "rapport.profile.signals.*.segment_entered.3"
    )
    with pytest.raises(ValueError):
        SIGNALS.filter(partition=16)


def test_the_message_id_is_the_log_and_the_cursor() -> None:
    assert SIGNALS.message_id(42) == "rapport.profile.signals:42"
    assert SIGNALS.cursor_of_message_id("rapport.profile.signals:42") == 42
    assert SIGNALS.cursor_of_message_id("rapport.identity.changes:42") is None
    assert SIGNALS.cursor_of_message_id("rapport.profile.signals:x") is None
    assert SIGNALS.cursor_of_message_id(None) is None


def test_stream_spec_defaults_and_settings(monkeypatch) -> None:
    spec = StreamSpec.for_log(SIGNALS)
    config = spec.config()
    assert (config.name, config.subjects) == (
        "RAPPORT_PROFILE_SIGNALS",
        ["rapport.profile.signals.>"],
    )
    assert (config.retention, config.duplicate_window, config.max_age) == (
        "limits",
        120.0,
        604800.0,
    )
    monkeypatch.setenv("RAPPORT_EVTEST_NATS_URL", "nats://bus:4222")
    monkeypatch.setenv("RAPPORT_EVTEST_NATS_SUBJECT_PREFIX", "acme")
    monkeypatch.setenv("RAPPORT_EVTEST_NATS_PARTITIONS", "4")
    monkeypatch.setenv("RAPPORT_EVTEST_NATS_STREAM_REPLICAS", "3")
    monkeypatch.setenv("RAPPORT_EVTEST_NATS_STREAM_MAX_AGE_SECONDS", "3600")
    settings = EvSettings()
    assert settings.nats_url == "nats://bus:4222"
    subjects = LogSubjects.from_settings(settings, "signals")
    assert (subjects.root, subjects.partitions) == ("acme.profile.signals", 4)
    assert LogSubjects.from_settings(settings, "changes", service="identity").root == (
        "acme.identity.changes"
    )
    from_settings = StreamSpec.from_settings(subjects, settings).config()
    assert (from_settings.num_replicas, from_settings.max_age) == (3, 3600.0)


def test_the_bus_is_off_by_default() -> None:
    assert EvSettings().nats_url is None


def test_a_stream_spec_refuses_a_window_longer_than_its_retention() -> None:
    with pytest.raises(ValueError):
        StreamSpec.for_log(SIGNALS, max_age_seconds=60, duplicate_window_seconds=120)
    with pytest.raises(ValueError):
        StreamSpec.for_log(SIGNALS, duplicate_window_seconds=0)
    StreamSpec.for_log(SIGNALS, max_age_seconds=0)  # 0: kept forever


async def _ignore(delivery: Delivery) -> None:
    return None


def test_an_ordered_consumer_is_one_durable_consumer_per_partition() -> None:
    subjects = LogSubjects("profile", "signals", partitions=4)
    consumer = DurableConsumer(
        NatsBus("nats://unused:4222", name="t"),
        subjects,
        ConsumerSpec("decisioning-triggers", kind="segment_entered"),
        _ignore,
    )
    made = consumer.consumers()
    assert [name for name, _ in made] == [f"decisioning-triggers-p{n}" for n in range(4)]
    assert [config.filter_subject for _, config in made] == [
        f"rapport.profile.signals.*.segment_entered.{n}" for n in range(4)
    ]
    assert {config.max_ack_pending for _, config in made} == {1}


def test_an_unordered_consumer_is_one_durable_consumer_with_many_in_flight() -> None:
    consumer = DurableConsumer(
        NatsBus("nats://unused:4222", name="t"),
        SIGNALS,
        ConsumerSpec("exporter", ordered=False, max_ack_pending=100, workspace="brand-b"),
        _ignore,
    )
    [(name, config)] = consumer.consumers()
    assert name == "exporter"
    assert config.filter_subject == "rapport.profile.signals.brand-b.*.*"
    assert (config.max_ack_pending, config.max_deliver, config.ack_policy) == (100, 5, "explicit")


def test_a_consumer_spec_refuses_nonsense() -> None:
    with pytest.raises(BadSubjectToken):
        ConsumerSpec("two.tokens")
    with pytest.raises(ValueError):
        ConsumerSpec("x", max_deliver=0)
    with pytest.raises(ValueError):
        ConsumerSpec("x", retry_delays=())


def test_logged_server_addresses_carry_no_credentials() -> None:
    assert safe_url("nats://user:s3cret@bus.internal:4222") == "nats://bus.internal:4222"
    assert safe_url("tls://token@bus") == "tls://bus"

"""The versioned decision configuration through the gRPC stub: edits go to the draft,
Publish makes a live version, Rollback publishes an earlier one again, Diff says what
changed, Import and Export move whole configurations as YAML."""

from __future__ import annotations

import functools
import textwrap

import grpc
import pytest
import yaml
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import expect_error
from rapport.type.v1 import channel_pb2

PARENT = "workspaces/default"
ALICE = "workspaces/default/customers/alice"
DOMAIN = "decisioning.rapport.dev"
VERSION = "workspaces/default/decisionConfigVersions/{}"
expect_invalid = functools.partial(
    expect_error, code=grpc.StatusCode.INVALID_ARGUMENT, domain=DOMAIN
)


def inbound(value: float = 10.0) -> pb.Action:
    return pb.Action(channels=[channel_pb2.CHANNEL_INBOUND], purpose="service", value=value)


async def create(stub, action_id: str, value: float = 10.0) -> None:
    await stub.CreateAction(
        pb.CreateActionRequest(parent=PARENT, action_id=action_id, action=inbound(value))
    )


async def decided(stub) -> list[str]:
    response = await stub.Decide(pb.DecideRequest(parent=PARENT, customer=ALICE))
    return [a.action.rsplit("/", 1)[1] for a in response.actions]


async def publish(stub, description: str = "") -> pb.DecisionConfigVersion:
    return await stub.PublishDecisionConfig(
        pb.PublishDecisionConfigRequest(parent=PARENT, description=description)
    )


async def diff(stub, base: str = "", target: str = "") -> list[tuple]:
    response = await stub.DiffDecisionConfig(
        pb.DiffDecisionConfigRequest(parent=PARENT, base_version=base, target_version=target)
    )
    return [(c.item.rsplit("/", 1)[1], c.change_type, list(c.fields)) for c in response.changes]


@pytest.fixture(autouse=True)
def alice(fake_services):
    fake_services.profile.traits[ALICE] = {}


async def test_edits_go_live_only_when_published(stub):
    await create(stub, "a")
    assert await decided(stub) == []  # the draft is not live
    first = await publish(stub, "first")
    assert first.name == VERSION.format(1)
    assert (first.live, first.description, first.action_count) == (True, "first", 1)
    decision = await stub.Decide(pb.DecideRequest(parent=PARENT, customer=ALICE))
    assert [a.action.rsplit("/", 1)[1] for a in decision.actions] == ["a"]
    assert decision.config_version == VERSION.format(1)
    stored = await stub.GetDecision(pb.GetDecisionRequest(name=decision.decision))
    assert stored.config_version == VERSION.format(1)

    await create(stub, "b", 20.0)
    assert await decided(stub) == ["a"]
    second = await publish(stub)
    assert (second.name, second.action_count) == (VERSION.format(2), 2)
    assert await decided(stub) == ["b", "a"]
    first = await stub.GetDecisionConfigVersion(
        pb.GetDecisionConfigVersionRequest(name=VERSION.format(1))
    )
    assert first.live is False


async def test_publishing_twice_without_changes_is_refused(stub):
    await create(stub, "a")
    await publish(stub)
    info, _ = await expect_error(publish(stub), grpc.StatusCode.FAILED_PRECONDITION, domain=DOMAIN)
    assert info.reason == "NO_CHANGES"
    listed = await stub.ListDecisionConfigVersions(
        pb.ListDecisionConfigVersionsRequest(parent=PARENT)
    )
    assert [v.name for v in listed.decision_config_versions] == [VERSION.format(1)]


async def test_versions_rollback_and_diff(stub):
    await create(stub, "a")
    await publish(stub, "v1")
    await create(stub, "b", 20.0)
    await stub.UpdateAction(
        pb.UpdateActionRequest(action=pb.Action(name=f"{PARENT}/actions/a", value=99.0))
    )
    # Draft against live: b added, a's value changed.
    assert await diff(stub) == [
        ("a", pb.CONFIG_CHANGE_TYPE_CHANGED, ["value"]),
        ("b", pb.CONFIG_CHANGE_TYPE_ADDED, []),
    ]
    await publish(stub, "v2")
    assert await decided(stub) == ["a", "b"]  # 99 then 20
    assert await diff(stub) == []
    assert await diff(stub, VERSION.format(2), VERSION.format(1)) == [
        ("a", pb.CONFIG_CHANGE_TYPE_CHANGED, ["value"]),
        ("b", pb.CONFIG_CHANGE_TYPE_REMOVED, []),
    ]

    rolled = await stub.RollbackDecisionConfig(
        pb.RollbackDecisionConfigRequest(name=VERSION.format(1))
    )
    assert rolled.name == VERSION.format(3)
    assert (rolled.live, rolled.source_version) == (True, VERSION.format(1))
    assert rolled.description == "rollback to version 1"
    assert await decided(stub) == ["a"]
    # The draft is version 1's content again.
    assert await diff(stub, VERSION.format(1)) == []
    listed = await stub.ListDecisionConfigVersions(
        pb.ListDecisionConfigVersionsRequest(parent=PARENT, page_size=2)
    )
    assert [(v.name, v.live) for v in listed.decision_config_versions] == [
        (VERSION.format(3), True),
        (VERSION.format(2), False),
    ]
    rest = await stub.ListDecisionConfigVersions(
        pb.ListDecisionConfigVersionsRequest(
            parent=PARENT, page_size=2, page_token=listed.next_page_token
        )
    )
    assert [v.name for v in rest.decision_config_versions] == [VERSION.format(1)]
    assert rest.next_page_token == ""
    old = await stub.GetDecisionConfigVersion(
        pb.GetDecisionConfigVersionRequest(name=VERSION.format(2))
    )
    assert (old.live, old.action_count, old.description) == (False, 2, "v2")


@pytest.mark.parametrize(
    ("call", "code", "field"),
    [
        ("get", grpc.StatusCode.NOT_FOUND, None),
        ("rollback", grpc.StatusCode.NOT_FOUND, None),
        ("get-name", grpc.StatusCode.INVALID_ARGUMENT, "name"),
        ("diff-base", grpc.StatusCode.NOT_FOUND, None),
        ("diff-other-workspace", grpc.StatusCode.INVALID_ARGUMENT, "target_version"),
        ("export", grpc.StatusCode.NOT_FOUND, None),
        ("publish-description", grpc.StatusCode.INVALID_ARGUMENT, "description"),
    ],
)
async def test_version_errors(stub, call, code, field):
    missing = VERSION.format(7)
    calls = {
        "get": lambda: stub.GetDecisionConfigVersion(
            pb.GetDecisionConfigVersionRequest(name=missing)
        ),
        "rollback": lambda: stub.RollbackDecisionConfig(
            pb.RollbackDecisionConfigRequest(name=VERSION.format("abc"))
        ),
        "get-name": lambda: stub.GetDecisionConfigVersion(
            pb.GetDecisionConfigVersionRequest(name="decisionConfigVersions/1")
        ),
        "diff-base": lambda: stub.DiffDecisionConfig(
            pb.DiffDecisionConfigRequest(parent=PARENT, base_version=missing)
        ),
        "diff-other-workspace": lambda: stub.DiffDecisionConfig(
            pb.DiffDecisionConfigRequest(
                parent=PARENT, target_version="workspaces/b/decisionConfigVersions/1"
            )
        ),
        "export": lambda: stub.ExportDecisionConfig(
            pb.ExportDecisionConfigRequest(parent=PARENT, version=missing)
        ),
        "publish-description": lambda: stub.PublishDecisionConfig(
            pb.PublishDecisionConfigRequest(parent=PARENT, description="x" * 1001)
        ),
    }
    await expect_error(calls[call](), code, domain=DOMAIN, field=field)


CONFIG = textwrap.dedent(
    """
    settings:
      contact_limits:
        - channels: [email]
          purposes: [marketing]
          max_contacts: 2
          period: 7d
      suppression_rules:
        - outcome_type: impression
          outcome_count: 3
          window: 7d
          duration: 14d
      arbitration:
        priority_parts: [propensity, value]
        context_weights:
          - condition: context.placement == "home"
            weight: 1.5
    groups:
      - id: renewals
        issue: retention
        eligibility: has(profile.traits.policy_renewal_date)
        lever: 2
    actions:
      - id: renewal-reminder
        group: renewals
        tags: [renewal]
        channels: [email, sms]
        purpose: marketing
        value: 120
        suitability: days_until(profile.traits.policy_renewal_date) <= 30
        content:
          subject: Your policy renews soon
          text_body: Renew now
        treatments:
          - channel: sms
            content: {text_body: "Renews soon: reply RENEW"}
      - id: banner
        channels: [inbound]
        purpose: service
        value: 5
        start_time: "2026-01-01T00:00:00+00:00"
    triggers:
      - id: renewal-due
        event_name: Policy Renewal Due
        condition: event.properties.days_left <= 30
        action: renewal-reminder
        channel: email
    """
)


async def test_import_export_round_trip(stub):
    response = await stub.ImportDecisionConfig(
        pb.ImportDecisionConfigRequest(parent=PARENT, content=CONFIG)
    )
    assert [(c.item, c.change_type) for c in response.changes] == [
        (f"{PARENT}/decisionSettings", pb.CONFIG_CHANGE_TYPE_CHANGED),
        (f"{PARENT}/actionGroups/renewals", pb.CONFIG_CHANGE_TYPE_ADDED),
        (f"{PARENT}/actions/banner", pb.CONFIG_CHANGE_TYPE_ADDED),
        (f"{PARENT}/actions/renewal-reminder", pb.CONFIG_CHANGE_TYPE_ADDED),
        (f"{PARENT}/triggers/renewal-due", pb.CONFIG_CHANGE_TYPE_ADDED),
    ]
    assert list(response.changes[0].fields) == [
        "contact_limits",
        "suppression_rules",
        "arbitration",
    ]
    settings = await stub.GetDecisionSettings(
        pb.GetDecisionSettingsRequest(name=f"{PARENT}/decisionSettings")
    )
    assert settings.contact_limits[0].max_contacts == 2
    assert settings.contact_limits[0].period.seconds == 7 * 86400
    assert settings.suppression_rules[0].duration.seconds == 14 * 86400
    assert list(settings.arbitration.priority_parts) == [
        pb.PRIORITY_PART_PROPENSITY,
        pb.PRIORITY_PART_VALUE,
    ]

    exported = await stub.ExportDecisionConfig(pb.ExportDecisionConfigRequest(parent=PARENT))
    document = yaml.safe_load(exported.content)
    assert document["workspace"] == "default"
    assert document["actions"][1]["treatments"] == [
        {"channel": "sms", "content": {"text_body": "Renews soon: reply RENEW"}}
    ]
    # The export imports back to the same configuration.
    again = await stub.ImportDecisionConfig(
        pb.ImportDecisionConfigRequest(parent=PARENT, content=exported.content)
    )
    assert list(again.changes) == []

    # A published version exports as it was published.
    await publish(stub)
    await stub.DeleteTrigger(pb.DeleteTriggerRequest(name=f"{PARENT}/triggers/renewal-due"))
    version = await stub.ExportDecisionConfig(
        pb.ExportDecisionConfigRequest(parent=PARENT, version=VERSION.format(1))
    )
    assert version.content == exported.content


async def test_import_replaces_or_merges(stub):
    await create(stub, "old")
    replaced = await stub.ImportDecisionConfig(
        pb.ImportDecisionConfigRequest(parent=PARENT, content=CONFIG)
    )
    assert (f"{PARENT}/actions/old", pb.CONFIG_CHANGE_TYPE_REMOVED) in [
        (c.item, c.change_type) for c in replaced.changes
    ]
    merged = await stub.ImportDecisionConfig(
        pb.ImportDecisionConfigRequest(
            parent=PARENT,
            merge=True,
            content="actions:\n  - {id: old, channels: [inbound], purpose: service, value: 1}\n",
        )
    )
    assert [(c.item, c.change_type) for c in merged.changes] == [
        (f"{PARENT}/actions/old", pb.CONFIG_CHANGE_TYPE_ADDED)
    ]
    listed = await stub.ListActions(pb.ListActionsRequest(parent=PARENT))
    assert [a.name.rsplit("/", 1)[1] for a in listed.actions] == [
        "banner",
        "old",
        "renewal-reminder",
    ]
    # Replacing without settings brings the defaults back.
    await stub.ImportDecisionConfig(
        pb.ImportDecisionConfigRequest(parent=PARENT, content="actions: []\n")
    )
    settings = await stub.GetDecisionSettings(
        pb.GetDecisionSettingsRequest(name=f"{PARENT}/decisionSettings")
    )
    assert [(list(lim.channels), lim.max_contacts) for lim in settings.contact_limits] == [
        ([channel_pb2.CHANNEL_EMAIL], 1),
        ([channel_pb2.CHANNEL_SMS], 1),
    ]


@pytest.mark.parametrize(
    ("content", "in_description"),
    [
        ("actions: [\n", "not valid YAML"),
        ("a: &x [1]\nb: *x\n", "anchors and aliases"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
        ("workspace: other\n", "workspace: must be default"),
        ("actions: [{id: a, colour: red}]\n", "actions[0].colour: unknown key"),
        ("actions: [{id: a, channels: [inbound], purpose: service}]\n", "actions[0].value"),
        (
            "triggers: [{id: t, event_name: E, action: nope, channel: email}]\n",
            "triggers[0].action: no such action",
        ),
        ("settings: {contact_limits: [{channels: [inbound], period: 7d}]}\n", "channels[0]"),
        ("settings: {suppression_rules: [{outcome_type: wow}]}\n", "outcome_type"),
        ("settings: {contact_limits: [{channels: [email], period: soon}]}\n", "period"),
    ],
)
async def test_bad_imports_are_refused_naming_the_place_and_change_nothing(
    stub, content, in_description
):
    await create(stub, "kept")
    _, bad_request = await expect_invalid(
        stub.ImportDecisionConfig(pb.ImportDecisionConfigRequest(parent=PARENT, content=content)),
        field="content",
    )
    assert in_description in bad_request.field_violations[0].description
    listed = await stub.ListActions(pb.ListActionsRequest(parent=PARENT))
    assert [a.name for a in listed.actions] == [f"{PARENT}/actions/kept"]


async def test_a_broken_rule_in_an_import_says_where(stub):
    content = "actions:\n  - id: a\n    channels: [inbound]\n    purpose: service\n    value: 1\n"
    content += '    eligibility: "profile.traits.age > 18 &&\\n (1 +"\n'
    info, bad_request = await expect_invalid(
        stub.ImportDecisionConfig(pb.ImportDecisionConfigRequest(parent=PARENT, content=content)),
        field="content",
    )
    description = bad_request.field_violations[0].description
    assert description.startswith("actions[0].eligibility: is not a valid CEL expression")
    assert (info.metadata["line"], info.metadata["column"]) == ("2", "6")


async def test_a_new_version_reaches_another_replica(serve, make_settings, fake_services, tmp_path):
    # Two replicas on one database (a SQLite file here; PostgreSQL in the integration tests).
    fake_services.profile.traits[ALICE] = {}
    replica = make_settings(config_refresh_seconds=0)
    async with serve(replica) as first, serve(replica) as second:
        await create(first, "a")
        await publish(first)
        assert await decided(second) == ["a"]
        await first.UpdateAction(
            pb.UpdateActionRequest(
                action=pb.Action(name=f"{PARENT}/actions/a", purpose="other"),
            )
        )
        await create(first, "b", 50.0)
        await publish(first)
        assert await decided(second) == ["b", "a"]


async def test_publication_of_the_draft_at_start_up(serve, make_settings, fake_services):
    """A workspace that never published publishes its draft when a replica starts (an
    upgrade from before versions keeps deciding with what it had)."""
    settings = make_settings()
    async with serve(settings) as stub:
        await create(stub, "a")
    async with serve(settings) as stub:
        assert await decided(stub) == ["a"]
        versions = await stub.ListDecisionConfigVersions(
            pb.ListDecisionConfigVersionsRequest(parent=PARENT)
        )
        assert len(versions.decision_config_versions) == 1
        # Once published, a restart publishes nothing by itself.
        await create(stub, "b")
    async with serve(settings) as stub:
        assert await decided(stub) == ["a"]

"""UpdateConversionRule (AIP-134) through the real gRPC server: field masks, validation
naming the field, and attribution by the updated rule."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import eventually, expect_error
from rapport.type.v1 import channel_pb2

from .test_decisioning_experiments_service import OTHER, PARENT, RENEWAL, catalogue

RULE = f"{PARENT}/conversionRules/renewed"
CUSTOMER = f"{PARENT}/customers/c1"
DAY = 86400
EVENT, WINDOW, ACTION = (f"conversion_rule.{f}" for f in ("event_name", "window", "action"))
ELSEWHERE = "workspaces/elsewhere/conversionRules/renewed"


async def create_rule(stub) -> pb.ConversionRule:
    return await stub.CreateConversionRule(
        pb.CreateConversionRuleRequest(
            parent=PARENT,
            conversion_rule_id="renewed",
            conversion_rule=pb.ConversionRule(
                action=RENEWAL,
                event_name="Policy Renewed",
                window=duration_pb2.Duration(seconds=30 * DAY),
            ),
        )
    )


def update(paths: list[str] | None = None, **fields) -> pb.UpdateConversionRuleRequest:
    fields.setdefault("name", RULE)
    mask = field_mask_pb2.FieldMask(paths=paths) if paths is not None else None
    return pb.UpdateConversionRuleRequest(
        conversion_rule=pb.ConversionRule(**fields), update_mask=mask
    )


async def test_update_changes_only_the_masked_fields(stub):
    await catalogue(stub)
    created = await create_rule(stub)

    # The mask names event_name: the window given along is left alone.
    renamed = await stub.UpdateConversionRule(
        update(
            ["event_name"], event_name="Policy Extended", window=duration_pb2.Duration(seconds=60)
        )
    )
    assert renamed.event_name == "Policy Extended"
    assert renamed.window.seconds == 30 * DAY and renamed.action == RENEWAL
    assert renamed.create_time == created.create_time
    assert await stub.GetConversionRule(pb.GetConversionRuleRequest(name=RULE)) == renamed

    # An empty mask: the fields set.
    shorter = await stub.UpdateConversionRule(update(window=duration_pb2.Duration(seconds=DAY)))
    assert (shorter.window.seconds, shorter.event_name) == (DAY, "Policy Extended")

    # `*`: every field; output-only paths named in a mask are ignored.
    replaced = await stub.UpdateConversionRule(
        update(
            ["*"],
            action=OTHER,
            event_name="Policy Renewed",
            window=duration_pb2.Duration(seconds=7 * DAY),
        )
    )
    assert (replaced.action, replaced.event_name, replaced.window.seconds) == (
        OTHER, "Policy Renewed", 7 * DAY,
    )  # fmt: skip
    same = await stub.UpdateConversionRule(update(["create_time", "action"], action=OTHER))
    assert same == replaced
    listed = await stub.ListConversionRules(pb.ListConversionRulesRequest(parent=PARENT))
    assert list(listed.conversion_rules) == [replaced]


@pytest.mark.parametrize(
    ("request_", "code", "field"),
    [
        (update(["event_name"], event_name=" "), "INVALID_ARGUMENT", EVENT),
        (update(["event_name"]), "INVALID_ARGUMENT", EVENT),
        (update(["window"]), "INVALID_ARGUMENT", WINDOW),
        (update(window=duration_pb2.Duration(seconds=1)), "INVALID_ARGUMENT", WINDOW),
        (update(["*"], action=RENEWAL, event_name="E"), "INVALID_ARGUMENT", WINDOW),
        (update(["action"]), "INVALID_ARGUMENT", ACTION),
        (update(["action"], action="nonsense"), "INVALID_ARGUMENT", ACTION),
        (update(["action"], action="workspaces/other/actions/renewal"), "INVALID_ARGUMENT", ACTION),
        (update(["display_name"]), "INVALID_ARGUMENT", "update_mask.paths[0]"),
        (update(name=""), "INVALID_ARGUMENT", "conversion_rule.name"),
        (update(name=f"{PARENT}/actions/renewal"), "INVALID_ARGUMENT", "conversion_rule.name"),
        (update(["action"], action=f"{PARENT}/actions/missing"), "NOT_FOUND", None),
        (update(["event_name"], event_name="X", name=f"{RULE}-missing"), "NOT_FOUND", None),
        (update(["event_name"], event_name="X", name=ELSEWHERE), "NOT_FOUND", None),
    ],
)  # fmt: skip
async def test_bad_updates_are_refused_and_change_nothing(stub, request_, code, field):
    await catalogue(stub)
    created = await create_rule(stub)
    await expect_error(
        stub.UpdateConversionRule(request_), getattr(grpc.StatusCode, code), field=field
    )
    assert await stub.GetConversionRule(pb.GetConversionRuleRequest(name=RULE)) == created


async def test_events_are_attributed_by_the_updated_rule(serve, make_settings, fake_services):
    fake_services.profile.traits[CUSTOMER] = {}
    fake_services.consent.grant(CUSTOMER, "marketing", channel_pb2.CHANNEL_EMAIL)
    async with serve(make_settings(triggers_enabled=True)) as stub:
        await catalogue(stub)
        await create_rule(stub)
        await stub.UpdateConversionRule(update(["event_name"], event_name="Policy Extended"))
        response = await stub.Decide(pb.DecideRequest(parent=PARENT, customer=CUSTOMER))
        assert response.actions[0].action == RENEWAL
        await fake_services.emit_event(CUSTOMER, "Policy Renewed")  # the old name: nothing
        await fake_services.emit_event(CUSTOMER, "Policy Extended")

        async def conversions() -> list[pb.Outcome] | None:
            page = await stub.ListOutcomes(pb.ListOutcomesRequest(parent=PARENT))
            found = [o for o in page.outcomes if o.type == pb.OUTCOME_TYPE_CONVERSION]
            return found if found else None

        converted = await eventually(conversions)
        assert [(o.decision, o.action) for o in converted] == [(response.decision, RENEWAL)]

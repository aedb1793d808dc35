"""Data subject requests and data hygiene through the API: ExportProfile holds
everything kept on a customer, EraseProfile removes all of it (idempotently), the
workspace's DataHygienePolicy deletes events past their retention, and its inactivity
rule reports (ListInactiveProfiles) or deletes inactive customers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp
from rapport.grpctesting import eventually, expect_error
from rapport.profile.v1 import profile_service_pb2 as pb

PARENT = "workspaces/default"
POLICY = "workspaces/default/dataHygienePolicy"
DOMAIN = "profile.rapport.dev"
Stub = Any


def days_ago(days: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC) - timedelta(days=days))
    return stamp


async def ingest(stub: Stub, *events: pb.Event) -> list[pb.EventResult]:
    answer = await stub.IngestEvents(pb.IngestEventsRequest(parent=PARENT, events=list(events)))
    assert all(r.status == pb.INGEST_STATUS_ACCEPTED for r in answer.results), answer
    return list(answer.results)


async def test_export_holds_everything_and_erase_removes_it(
    profile: Stub, event_factory: Any
) -> None:
    results = await ingest(
        profile,
        event_factory(
            "x1",
            type=pb.EVENT_TYPE_IDENTIFY,
            user_id="erin",
            traits={"email": "erin@example.com", "plan": "pro"},
            context={"library": {"name": "analytics.js", "version": "4.1"}},
        ),
        event_factory("x2", user_id="erin", event="Order Completed", properties={"total": 12}),
        event_factory("x3", type=pb.EVENT_TYPE_GROUP, user_id="erin", group_id="acme"),
        event_factory("y1", user_id="other", event="Order Completed"),
    )
    erin = results[0].customer
    other = results[3].customer
    exported = await profile.ExportProfile(pb.ExportProfileRequest(name=f"{erin}/profile"))
    assert exported.name == f"{erin}/profile"
    data = json.loads(exported.data_json)
    assert data["customer"] == erin
    assert data["profile"]["event_count"] == 3
    plan = data["traits"]["plan"]
    assert plan["value"] == "pro" and plan["source_message_id"] == "x1"
    assert plan["source_event_type"] == "identify" and plan["library_name"] == "analytics.js"
    assert [e["message_id"] for e in data["events"]] == ["x1", "x2", "x3"]
    assert data["events"][1]["document"]["properties"] == {"total": 12}
    [membership] = data["group_memberships"]
    assert membership["group_id"] == "acme" and membership["source_message_id"] == "x3"
    assert "y1" not in exported.data_json  # another customer's data is not exported
    group_name = membership["group"]
    assert (await profile.GetGroup(pb.GetGroupRequest(name=group_name))).member_count == 1

    erased = await profile.EraseProfile(pb.EraseProfileRequest(name=f"{erin}/profile"))
    assert (erased.name, erased.erased_event_count, erased.erased_trait_count) == (
        f"{erin}/profile",
        3,
        2,
    )
    await expect_error(
        profile.GetProfile(pb.GetProfileRequest(name=f"{erin}/profile")),
        grpc.StatusCode.NOT_FOUND,
        domain=DOMAIN,
    )
    await expect_error(
        profile.ExportProfile(pb.ExportProfileRequest(name=f"{erin}/profile")),
        grpc.StatusCode.NOT_FOUND,
        domain=DOMAIN,
    )
    listed = await profile.ListEvents(pb.ListEventsRequest(parent=erin))
    assert list(listed.events) == []
    assert (await profile.GetGroup(pb.GetGroupRequest(name=group_name))).member_count == 0
    # Idempotent: nothing left, nothing erased, no error.
    again = await profile.EraseProfile(pb.EraseProfileRequest(name=f"{erin}/profile"))
    assert (again.erased_event_count, again.erased_trait_count) == (0, 0)
    # The other customer is untouched.
    kept = await profile.GetProfile(pb.GetProfileRequest(name=f"{other}/profile"))
    assert kept.event_count == 1
    # Replaying an erased event stores it again as new (its message id went too).
    [replayed] = await ingest(profile, event_factory("x2", user_id="erin", event="Order Completed"))
    assert replayed.status == pb.INGEST_STATUS_ACCEPTED


async def test_erased_customers_signals_are_gone(profile: Stub, event_factory: Any) -> None:
    [first] = await ingest(profile, event_factory("s1", user_id="sam"))
    [second] = await ingest(profile, event_factory("s2", user_id="kim"))
    await profile.EraseProfile(pb.EraseProfileRequest(name=f"{first.customer}/profile"))
    call = profile.WatchSignals(pb.WatchSignalsRequest(parent=PARENT))
    try:
        response = await call.read()
    finally:
        call.cancel()
    assert response.signal.customer == second.customer


async def test_export_and_erase_refuse_bad_names_and_other_workspaces(profile: Stub) -> None:
    for call in (profile.ExportProfile, profile.EraseProfile):
        request_type = (
            pb.ExportProfileRequest if call is profile.ExportProfile else pb.EraseProfileRequest
        )
        await expect_error(
            call(request_type(name="workspaces/default/customers/x")),
            grpc.StatusCode.INVALID_ARGUMENT,
            field="name",
        )
        await expect_error(
            call(request_type(name="workspaces/elsewhere/customers/x/profile")),
            grpc.StatusCode.NOT_FOUND,
        )


async def test_policy_get_update_and_validation(profile: Stub) -> None:
    default = await profile.GetDataHygienePolicy(pb.GetDataHygienePolicyRequest(name=POLICY))
    assert default.name == POLICY and default.default_retention_days == 0
    assert not default.HasField("inactivity") and not default.HasField("update_time")

    sent = pb.DataHygienePolicy(
        name=POLICY,
        default_retention_days=365,
        event_retention_days={"Page Viewed": 30, "identify": 0},
        inactivity=pb.InactivityRule(
            event_name="Email Opened", inactive_days=730, action=pb.INACTIVITY_ACTION_REPORT
        ),
    )
    updated = await profile.UpdateDataHygienePolicy(
        pb.UpdateDataHygienePolicyRequest(data_hygiene_policy=sent)
    )
    assert updated.default_retention_days == 365
    assert dict(updated.event_retention_days) == {"Page Viewed": 30, "identify": 0}
    assert updated.inactivity.event_name == "Email Opened" and updated.HasField("update_time")
    assert (
        await profile.GetDataHygienePolicy(pb.GetDataHygienePolicyRequest(name=POLICY)) == updated
    )

    # A mask changes only its paths.
    masked = await profile.UpdateDataHygienePolicy(
        pb.UpdateDataHygienePolicyRequest(
            data_hygiene_policy=pb.DataHygienePolicy(name=POLICY, default_retention_days=7),
            update_mask=FieldMask(paths=["default_retention_days"]),
        )
    )
    assert masked.default_retention_days == 7
    assert masked.inactivity.event_name == "Email Opened"
    assert dict(masked.event_retention_days) == {"Page Viewed": 30, "identify": 0}

    bad = [
        (
            pb.DataHygienePolicy(name=POLICY, default_retention_days=-1),
            None,
            "data_hygiene_policy.default_retention_days",
        ),
        (
            pb.DataHygienePolicy(name=POLICY, default_retention_days=40_000),
            None,
            "data_hygiene_policy.default_retention_days",
        ),
        (
            pb.DataHygienePolicy(
                name=POLICY,
                inactivity=pb.InactivityRule(
                    event_name="Email Opened", inactive_days=0, action=pb.INACTIVITY_ACTION_DELETE
                ),
            ),
            None,
            "data_hygiene_policy.inactivity.inactive_days",
        ),
        (
            pb.DataHygienePolicy(
                name=POLICY,
                inactivity=pb.InactivityRule(
                    event_name="", inactive_days=3, action=pb.INACTIVITY_ACTION_DELETE
                ),
            ),
            None,
            "data_hygiene_policy.inactivity.event_name",
        ),
        (
            pb.DataHygienePolicy(
                name=POLICY,
                inactivity=pb.InactivityRule(event_name="Email Opened", inactive_days=3),
            ),
            None,
            "data_hygiene_policy.inactivity.action",
        ),
        (pb.DataHygienePolicy(name="workspaces/default/other"), None, "data_hygiene_policy.name"),
        (
            pb.DataHygienePolicy(name=POLICY),
            FieldMask(paths=["update_time"]),
            "update_mask.paths[0]",
        ),
    ]
    for policy, mask, field in bad:
        await expect_error(
            profile.UpdateDataHygienePolicy(
                pb.UpdateDataHygienePolicyRequest(data_hygiene_policy=policy, update_mask=mask)
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            field=field,
        )
    # Refused updates changed nothing.
    assert await profile.GetDataHygienePolicy(pb.GetDataHygienePolicyRequest(name=POLICY)) == masked


async def test_retention_sweep_deletes_expired_events_by_name(
    profile_server: Any, event_factory: Any
) -> None:
    async with profile_server(hygiene_sweep_interval=0.2, hygiene_sweep_chunk=2) as (stub, _):
        results = await ingest(
            stub,
            *[
                event_factory(
                    f"old-view-{n}",
                    user_id="rita",
                    event="Page Viewed",
                    original_time=days_ago(60 + n),
                )
                for n in range(5)
            ],
            event_factory(
                "new-view", user_id="rita", event="Page Viewed", original_time=days_ago(1)
            ),
            event_factory(
                "old-order", user_id="rita", event="Order Completed", original_time=days_ago(90)
            ),
            event_factory(
                "ancient-identify",
                type=pb.EVENT_TYPE_IDENTIFY,
                user_id="rita",
                traits={"plan": "pro"},
                original_time=days_ago(5000),
            ),
        )
        rita = results[0].customer
        await stub.UpdateDataHygienePolicy(
            pb.UpdateDataHygienePolicyRequest(
                data_hygiene_policy=pb.DataHygienePolicy(
                    name=POLICY,
                    default_retention_days=365,
                    event_retention_days={"Page Viewed": 30, "identify": 0},
                )
            )
        )

        async def kept() -> list[str]:
            page = await stub.ListEvents(pb.ListEventsRequest(parent=rita, page_size=100))
            return sorted(e.message_id for e in page.events)

        async def swept() -> bool:
            return await kept() == ["ancient-identify", "new-view", "old-order"]

        await eventually(swept, timeout=10)
        view = await stub.GetProfile(pb.GetProfileRequest(name=f"{rita}/profile"))
        assert view.event_count == 3
        # The counters follow the events kept.
        assert (
            view.last_seen_time
            == (await stub.ListEvents(pb.ListEventsRequest(parent=rita, page_size=1)))
            .events[0]
            .event_time
        )
        assert view.traits["plan"].value.string_value == "pro"


async def test_inactivity_rule_reports_then_deletes(
    profile_server: Any, event_factory: Any
) -> None:
    async with profile_server(hygiene_sweep_interval=0.2) as (stub, _):
        results = await ingest(
            stub,
            # Known for long, opened an email long ago only: inactive.
            event_factory("a1", user_id="ann", event="Email Opened", original_time=days_ago(800)),
            event_factory("a2", user_id="ann", event="Page Viewed", original_time=days_ago(3)),
            # Known for long, opened an email recently: active.
            event_factory("b1", user_id="bob", event="Page Viewed", original_time=days_ago(900)),
            event_factory("b2", user_id="bob", event="Email Opened", original_time=days_ago(10)),
            # Known for long, never opened one: inactive.
            event_factory("c1", user_id="cat", event="Page Viewed", original_time=days_ago(1000)),
            # New: not yet inactive.
            event_factory("d1", user_id="dan", event="Page Viewed", original_time=days_ago(5)),
        )
        ann, bob, cat, dan = (results[i].customer for i in (0, 2, 4, 5))
        listed = await stub.ListInactiveProfiles(pb.ListInactiveProfilesRequest(parent=PARENT))
        assert list(listed.inactive_profiles) == []  # no rule yet

        rule = pb.InactivityRule(
            event_name="Email Opened", inactive_days=730, action=pb.INACTIVITY_ACTION_REPORT
        )
        await stub.UpdateDataHygienePolicy(
            pb.UpdateDataHygienePolicyRequest(
                data_hygiene_policy=pb.DataHygienePolicy(name=POLICY, inactivity=rule)
            )
        )
        first = await stub.ListInactiveProfiles(
            pb.ListInactiveProfilesRequest(parent=PARENT, page_size=1)
        )
        assert first.next_page_token
        rest = await stub.ListInactiveProfiles(
            pb.ListInactiveProfilesRequest(
                parent=PARENT, page_size=1, page_token=first.next_page_token
            )
        )
        found = {p.name: p for p in [*first.inactive_profiles, *rest.inactive_profiles]}
        assert set(found) == {f"{ann}/profile", f"{cat}/profile"}
        assert found[f"{ann}/profile"].HasField("last_activity_time")
        assert not found[f"{cat}/profile"].HasField("last_activity_time")
        # REPORT deletes nothing.
        assert (await stub.GetProfile(pb.GetProfileRequest(name=f"{ann}/profile"))).event_count == 2

        rule.action = pb.INACTIVITY_ACTION_DELETE
        await stub.UpdateDataHygienePolicy(
            pb.UpdateDataHygienePolicyRequest(
                data_hygiene_policy=pb.DataHygienePolicy(name=POLICY, inactivity=rule),
                update_mask=FieldMask(paths=["inactivity"]),
            )
        )

        async def erased() -> bool:
            page = await stub.ListInactiveProfiles(pb.ListInactiveProfilesRequest(parent=PARENT))
            return not page.inactive_profiles

        await eventually(erased, timeout=10)
        for gone in (ann, cat):
            await expect_error(
                stub.GetProfile(pb.GetProfileRequest(name=f"{gone}/profile")),
                grpc.StatusCode.NOT_FOUND,
            )
        for active in (bob, dan):
            await stub.GetProfile(pb.GetProfileRequest(name=f"{active}/profile"))


@pytest.mark.parametrize("page_token", ["garbage", "x" * 300])
async def test_list_inactive_refuses_foreign_tokens(profile: Stub, page_token: str) -> None:
    await expect_error(
        profile.ListInactiveProfiles(
            pb.ListInactiveProfilesRequest(parent=PARENT, page_token=page_token)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="page_token",
    )


async def test_a_large_export_comes_in_pages_that_each_fit(
    profile_server: Any, event_factory: Any
) -> None:
    limit = 256 * 1024
    settings = {"max_message_bytes": limit, "list_page_max_bytes": 64 * 1024}
    async with profile_server(**settings) as (stub, _):
        for batch in range(4):
            results = await ingest(
                stub,
                *[
                    event_factory(f"big-{batch}-{n}", user_id="bea", properties={"p": "x" * 9000})
                    for n in range(10)
                ],
            )
        name = f"{results[0].customer}/profile"

        async def pages(page_size: int) -> list[dict[str, Any]]:
            found, token = [], ""
            while True:
                page = await stub.ExportProfile(
                    pb.ExportProfileRequest(name=name, page_size=page_size, page_token=token)
                )
                assert page.ByteSize() <= limit and page.name == name
                found.append(json.loads(page.data_json))
                token = page.next_page_token
                if not token:
                    return found

        by_bytes = await pages(0)  # 40 events of 9 KB: more than one response holds
        assert len(by_bytes) > 1
        first, *rest = by_bytes
        assert first["profile"]["event_count"] == 40
        assert {"traits", "group_memberships", "merged_customers"} <= set(first)
        assert all(set(page) == {"customer", "events"} for page in rest)
        ids = [e["message_id"] for page in by_bytes for e in page["events"]]
        assert sorted(ids) == sorted(f"big-{b}-{n}" for b in range(4) for n in range(10))
        assert len(set(ids)) == 40

        by_count = await pages(3)
        assert [len(page["events"]) for page in by_count] == [3] * 13 + [1]
        assert [e["message_id"] for page in by_count for e in page["events"]] == ids

        # A token is bound to the profile it was made for.
        second = await stub.ExportProfile(pb.ExportProfileRequest(name=name, page_size=3))
        other = (await ingest(stub, event_factory("c-1", user_id="cy")))[0].customer
        await expect_error(
            stub.ExportProfile(
                pb.ExportProfileRequest(name=f"{other}/profile", page_token=second.next_page_token)
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            field="page_token",
        )
        await expect_error(
            stub.ExportProfile(pb.ExportProfileRequest(name=name, page_size=-1)),
            grpc.StatusCode.INVALID_ARGUMENT,
            field="page_size",
        )


async def test_an_export_page_that_cannot_fit_is_refused_clearly(
    profile_server: Any, event_factory: Any
) -> None:
    settings = {"max_message_bytes": 8192, "list_page_max_bytes": 4096}
    async with profile_server(**settings) as (stub, _):
        [result] = await ingest(
            stub, event_factory("huge", user_id="bea", properties={"p": "x" * 6500})
        )
        info, _ = await expect_error(
            stub.ExportProfile(pb.ExportProfileRequest(name=f"{result.customer}/profile")),
            grpc.StatusCode.FAILED_PRECONDITION,
            domain=DOMAIN,
        )
        assert info.reason == "EXPORT_TOO_LARGE"

"""`make demo`'s reminder is true whenever it runs: the renewal date is counted from today,
the catalogue's time-window trigger (30 days before `policy_renewal_date`, the seeds'
renewal window, at 09:00 on the customer's clock) fires for it at once whatever the hour
(the demo's customer lives where it is 09:xx), and the text and HTML parts of the mail say the
same thing, with that date."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from rapport.decisioning.adapters.catalogue_file import read_catalogue
from rapport.decisioning.domain.model import Trigger, TriggerKind
from rapport.decisioning.domain.schedule import WindowTiming, firing, send_time, too_late
from rapport.delivery.domain.rendering import render
from rapport.localsuite import demo
from rapport.localsuite.suite import CATALOGUE_FILE

# Days the demo may run on: an ordinary one, the walkthrough's (a Dec 15 renewal was
# already "in 14 days"), past that date, a year's end, a leap day.
TODAYS = [
    date(2026, 3, 10),
    date(2026, 12, 1),
    date(2026, 12, 20),
    date(2027, 12, 31),
    date(2028, 2, 29),
]


def window_trigger() -> Trigger:
    catalogue = read_catalogue(CATALOGUE_FILE)
    [entry] = [t for t in catalogue.triggers if t.draft.kind is TriggerKind.TIME_WINDOW]
    draft = entry.draft
    assert draft.action_id == "renewal-reminder"
    return Trigger(
        workspace="default",
        trigger_id=entry.trigger_id,
        event_name=draft.event_name,
        condition=draft.condition,
        action_id=draft.action_id,
        channel=draft.channel,
        create_time=datetime(2026, 1, 1, tzinfo=UTC),
        kind=draft.kind,
        date_trait=draft.date_trait,
        offset_days=draft.offset_days,
        years_after=draft.years_after,
    )


def reminder_content() -> dict[str, str]:
    catalogue = read_catalogue(CATALOGUE_FILE)
    [action] = [a for a in catalogue.actions if a.action_id == "renewal-reminder"]
    content = action.draft.content
    return {"subject": content.subject, "text": content.text_body, "html": content.html_body}


def test_the_renewal_date_is_counted_from_today() -> None:
    assert demo.renewal_traits(date(2026, 12, 20)) == {
        "policy_number": "HOME-0042",
        "policy_renewal_date": "2027-01-19",
    }


@pytest.mark.parametrize("hour", range(24))
@pytest.mark.parametrize("today", TODAYS, ids=str)
def test_the_seeds_30_day_window_fires_at_once_at_any_hour(today: date, hour: int) -> None:
    now = datetime.combine(today, time(hour, 59, 30), tzinfo=UTC)
    zone_name, local_today = demo.customer_clock(now)
    zone = ZoneInfo(zone_name)
    assert now.astimezone(zone).hour == demo.SEND_HOUR

    trigger = window_trigger()
    assert trigger.offset_days == -30
    traits = demo.renewal_traits(local_today)
    timing = WindowTiming(late_after=timedelta(seconds=7200))  # make run's
    when = firing(trigger, traits[trigger.date_trait], timing, zone)
    assert when is not None
    assert when.anchor == local_today + timedelta(days=demo.RENEWS_IN_DAYS)
    # Due this hour on the customer's clock, sent at once (not at the next 09:00)...
    assert when.fire_time <= now
    assert send_time(when.fire_time, when.anchor, now, timing, zone) == when.fire_time
    # ...even a few minutes later, past the hour.
    later = now + timedelta(minutes=5)
    assert send_time(when.fire_time, when.anchor, later, timing, zone) == when.fire_time
    assert not too_late(when.anchor, later, zone)


@pytest.mark.parametrize("today", TODAYS, ids=str)
def test_both_parts_of_the_mail_say_the_same_true_thing(today: date) -> None:
    traits = {"first_name": "Ada", "email": "ada@example.com", **demo.renewal_traits(today)}
    renewal = traits["policy_renewal_date"]
    # What a time-window firing gives the template as data.event (decisioning's
    # trigger_kinds.fire_due): the date trait and the date it counts from.
    variables = {
        "traits": traits,
        "data": {"event": {"trait": "policy_renewal_date", "date": renewal}},
        "customer": "workspaces/default/customers/c1",
    }
    content = reminder_content()
    subject = render(content["subject"], variables)
    text = " ".join(render(content["text"], variables).split())
    html = " ".join(re.sub(r"<[^>]+>", " ", render(content["html"], variables, html=True)).split())

    assert subject == f"Ada, your policy HOME-0042 renews on {renewal}"
    expected = (
        f"Hello Ada, Your policy HOME-0042 renews on {renewal}. "
        "Renew now to stay covered without a gap. The Rapport demo insurer"
    )
    assert text == expected
    assert html == expected
    assert date.fromisoformat(renewal) > today  # never a date in the past

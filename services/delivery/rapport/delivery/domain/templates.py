"""Saved templates: per locale, what each channel sends; locale fallback; rendering of a
message's content (saved or inline) for one channel.

A template is checked when it is saved: every part of every locale must parse and
render against the template's sample traits and data (or the built-in sample), so a
variable they do not define is refused then, not found when a customer's message
goes out half empty; an `sms_body` whose sample render is already longer than an SMS
may be (domain/sms_length.py) is refused too: every send of it would fail. (A
`text_body` SMS fall back to is not: it is also an email's text, of any length.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rapport.errors import InvalidArgument

from . import names, rendering, sms_length
from .model import Channel, MessageContent
from .validation import MAX_BODY_LENGTH, MAX_SUBJECT_LENGTH

MAX_LOCALES = 50
# All parts of all locales together, in characters.
MAX_TEMPLATE_CHARACTERS = 1_000_000
MAX_DISPLAY_NAME_LENGTH = 200

# What a template is checked against when it brings no sample traits of its own.
BUILT_IN_SAMPLE_TRAITS: dict[str, Any] = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "phone": "+14155550123",
    "push_token": "sample-push-token",
    "locale": "en-GB",
    "timezone": "Europe/London",
}
SAMPLE_CUSTOMER = "workspaces/default/customers/sample"

# language[-script][-region][-variant...], case-insensitive (BCP 47, simplified).
_LOCALE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{1,8}){0,4}", re.IGNORECASE)


def normalise_locale(tag: str) -> str | None:
    """`fr_ca` -> `fr-CA`, `zh-hant-tw` -> `zh-Hant-TW`; None when it is not a tag."""
    tag = tag.strip().replace("_", "-")
    if len(tag) > 35 or not _LOCALE.fullmatch(tag):
        return None
    language, *rest = tag.split("-")
    parts = [language.lower()]
    for part in rest:
        if len(part) == 4 and part.isalpha():
            parts.append(part.title())  # script
        elif len(part) == 2 and part.isalpha():
            parts.append(part.upper())  # region
        else:
            parts.append(part.lower())
    return "-".join(parts)


def locale_chain(tag: str | None) -> list[str]:
    """`fr-CA` -> [`fr-CA`, `fr`]: the tag, then each shorter prefix."""
    normalised = normalise_locale(tag) if tag else None
    if normalised is None:
        return []
    parts = normalised.split("-")
    return ["-".join(parts[:n]) for n in range(len(parts), 0, -1)]


@dataclass(frozen=True)
class TemplateContent:
    subject: str = ""
    text_body: str = ""
    html_body: str = ""
    sms_body: str = ""
    push_body: str = ""

    def parts(self) -> dict[str, str]:
        return {
            "subject": self.subject,
            "text_body": self.text_body,
            "html_body": self.html_body,
            "sms_body": self.sms_body,
            "push_body": self.push_body,
        }

    def for_channel(self, channel: Channel) -> MessageContent:
        """What `channel` sends of it (SMS and push use their own body when given)."""
        text = self.text_body
        if channel is Channel.SMS and self.sms_body:
            text = self.sms_body
        elif channel is Channel.PUSH and self.push_body:
            text = self.push_body
        return as_sent_on(
            MessageContent(subject=self.subject, text_body=text, html_body=self.html_body), channel
        )


# The parts each channel sends (delivery_service.proto, SendMessageRequest.content).
_SENT_PARTS: dict[Channel, frozenset[str]] = {
    Channel.SMS: frozenset({"text_body"}),
    Channel.PUSH: frozenset({"subject", "text_body"}),
}


def as_sent_on(content: MessageContent, channel: Channel) -> MessageContent:
    """`content` without the parts `channel` does not send: they are not rendered, so a
    variable only the email subject uses cannot fail an SMS."""
    sent = _SENT_PARTS.get(channel)
    if sent is None:
        return content
    return MessageContent(
        subject=content.subject if "subject" in sent else "",
        text_body=content.text_body if "text_body" in sent else "",
        html_body=content.html_body if "html_body" in sent else "",
    )


@dataclass
class Template:
    id: str
    workspace: str
    default_locale: str
    contents: dict[str, TemplateContent]
    display_name: str = ""
    sample_traits: dict[str, Any] = field(default_factory=dict)
    sample_data: dict[str, Any] = field(default_factory=dict)
    create_time: datetime | None = None
    update_time: datetime | None = None

    @property
    def name(self) -> str:
        return names.template_name(self.workspace, self.id)

    def pick_locale(self, wanted: str | None) -> str:
        """The locale to render for `wanted`: it, else a shorter form, else the default."""
        for candidate in locale_chain(wanted):
            if candidate in self.contents:
                return candidate
        return self.default_locale

    def content(self, wanted: str | None) -> tuple[str, TemplateContent]:
        locale = self.pick_locale(wanted)
        return locale, self.contents[locale]


# --- checks when saved ---------------------------------------------------------------------


def content_field(prefix: str, locale: str, part: str) -> str:
    return f'{prefix}.contents["{locale}"].{part}'


def normalise_contents(
    contents: Mapping[str, TemplateContent], *, field: str
) -> dict[str, TemplateContent]:
    """Locale keys normalised (refused when not tags or repeated), sizes and syntax
    checked; `field` is the request's field holding them (`template`)."""
    if not contents:
        raise InvalidArgument(f"{field}.contents", "needs at least one locale")
    if len(contents) > MAX_LOCALES:
        raise InvalidArgument(f"{field}.contents", f"must have at most {MAX_LOCALES} locales")
    total = sum(len(part) for content in contents.values() for part in content.parts().values())
    if total > MAX_TEMPLATE_CHARACTERS:
        raise InvalidArgument(
            f"{field}.contents", f"must hold at most {MAX_TEMPLATE_CHARACTERS} characters in all"
        )
    normalised: dict[str, TemplateContent] = {}
    for tag, content in sorted(contents.items()):
        locale = normalise_locale(tag)
        if locale is None:
            raise InvalidArgument(
                f'{field}.contents["{tag[:40]}"]', "is not a locale tag (BCP 47, e.g. fr-CA)"
            )
        if locale in normalised:
            raise InvalidArgument(content_field(field, tag, "locale"), f"repeats {locale}")
        check_content(content, field=f'{field}.contents["{locale}"]')
        normalised[locale] = content
    return normalised


def check_content(content: TemplateContent, *, field: str) -> None:
    parts = content.parts()
    if not any(value.strip() for value in parts.values()):
        raise InvalidArgument(field, "needs at least one non-empty part")
    for part, value in parts.items():
        limit = MAX_SUBJECT_LENGTH if part == "subject" else MAX_BODY_LENGTH
        if len(value) > limit:
            raise InvalidArgument(f"{field}.{part}", f"must be at most {limit} characters")
        if value and (problem := rendering.template_syntax_error(value, html=part == "html_body")):
            raise InvalidArgument(f"{field}.{part}", problem)


def check_against_sample(
    template: Template, *, field: str, max_sms_segments: int = sms_length.DEFAULT_MAX_SEGMENTS
) -> None:
    """Every part of every locale renders with the template's sample (or the built-in
    one), and each `sms_body` fits in `max_sms_segments`; InvalidArgument naming the
    part (and the variable) otherwise."""
    variables = {
        "traits": template.sample_traits or BUILT_IN_SAMPLE_TRAITS,
        "data": template.sample_data,
        "customer": SAMPLE_CUSTOMER,
    }
    for locale, content in template.contents.items():
        for part, source in content.parts().items():
            if not source:
                continue
            try:
                rendered = rendering.render(source, variables, html=part == "html_body")
            except rendering.TemplateRenderError as err:
                if err.kind == "UNDEFINED_VARIABLE":
                    why = (
                        f"uses {err.variable}, which the sample profile and data do not define"
                        " (give sample_traits / sample_data, or use `is defined` / `default`)"
                    )
                else:
                    why = f"does not render: {err.detail}"
                raise InvalidArgument(content_field(field, locale, part), why) from None
            if part == "sms_body" and (
                problem := sms_length.length_problem(rendered, max_sms_segments)
            ):
                raise InvalidArgument(
                    content_field(field, locale, part),
                    f"renders too long with the sample: {problem}",
                    reason="SMS_TOO_LONG",
                )


# --- rendering a message ------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedContent:
    subject: str
    text_body: str
    html_body: str | None


def render_content(
    content: MessageContent, *, traits: dict[str, Any], data: dict[str, Any], customer: str
) -> RenderedContent:
    """Raises rendering.TemplateRenderError with `part` set to the failing part."""
    variables = {"traits": traits, "data": data, "customer": customer}

    def part(name: str, source: str, html: bool = False) -> str:
        try:
            return rendering.render(source, variables, html=html)
        except rendering.TemplateRenderError as err:
            err.part = name
            raise

    # A header cannot span lines: fold any line breaks a variable brought in.
    subject = " ".join(part("subject", content.subject).split())
    text_body = part("text_body", content.text_body)
    html_body = part("html_body", content.html_body, html=True) if content.html_body else None
    return RenderedContent(subject=subject, text_body=text_body, html_body=html_body)

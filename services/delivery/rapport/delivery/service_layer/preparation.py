"""What a message says on one channel: its address there, and its content rendered in
the customer's locale (a saved template) or as given (inline content); a marketing SMS
with its workspace's opt-out notice (domain/sms_opt_out.py). An SMS whose final text
takes more segments than the deployment allows (domain/sms_length.py) is not prepared:
it fails SMS_TOO_LONG rather than going out as a costly string of fragments; inline
SMS content known to be too long before it is rendered is refused when accepted."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from rapport.delivery.domain import rendering, sms_length, validation
from rapport.delivery.domain.model import Channel, FailureReason, Message, MessageContent
from rapport.delivery.domain.rendering import TemplateRenderError
from rapport.delivery.domain.templates import RenderedContent, Template, as_sent_on, render_content
from rapport.errors import InvalidArgument

from .dependencies import Dependencies
from .recipients import is_marketing_purpose


@dataclass(frozen=True)
class Prepared:
    channel: Channel
    address: str
    rendered: RenderedContent
    # The template locale rendered; empty for inline content.
    locale: str = ""


@dataclass(frozen=True)
class NotPrepared:
    reason: FailureReason
    # Never personal data: template parts and variable names only.
    detail: str = ""


def content_for(
    message: Message,
    channel: Channel,
    traits: dict[str, Any],
    template: Template | None,
    deps: Dependencies,
) -> tuple[str, MessageContent]:
    """(locale, the content `channel` sends): the template's, in the customer's locale."""
    if template is None:
        return "", as_sent_on(message.content, channel)
    wanted = traits.get(deps.policy.locale_trait)
    locale, content = template.content(wanted if isinstance(wanted, str) else None)
    return locale, content.for_channel(channel)


def can_carry(
    message: Message,
    channel: Channel,
    traits: dict[str, Any],
    template: Template | None,
    deps: Dependencies,
) -> bool:
    return validation.can_carry(content_for(message, channel, traits, template, deps)[1], channel)


def prepare(
    message: Message,
    channel: Channel,
    traits: dict[str, Any],
    template: Template | None,
    deps: Dependencies,
) -> Prepared | NotPrepared:
    address = deps.addressing.recipient(
        channel, traits, workspace=message.workspace, customer=message.customer
    )
    if isinstance(address, FailureReason):
        return NotPrepared(address)
    locale, content = content_for(message, channel, traits, template, deps)
    if template is not None and not validation.can_carry(content, channel):
        missing = [
            part
            for part in validation.REQUIRED_CONTENT.get(channel, ())
            if not getattr(content, part).strip()
        ]
        detail = f"the template has no {', '.join(missing)} for {channel.value} in {locale}"
        return NotPrepared(FailureReason.TEMPLATE_ERROR, detail)
    assert message.data is not None  # checked before any preparation
    try:
        rendered = render_content(
            content, traits=traits, data=message.data, customer=message.customer
        )
    except TemplateRenderError as err:
        return NotPrepared(FailureReason.TEMPLATE_ERROR, err.describe())
    if channel is Channel.SMS:
        text = sms_text(rendered.text_body, message.workspace, message.purpose, deps)
        if problem := sms_length.length_problem(text, deps.policy.max_sms_segments):
            return NotPrepared(FailureReason.SMS_TOO_LONG, problem)
        rendered = replace(rendered, text_body=text)
    return Prepared(channel, address, rendered, locale)


def sms_length_problem(
    message: Message, traits: dict[str, Any], template: Template | None, deps: Dependencies
) -> str | None:
    """Why the SMS `message` would send is too long, or None: also when there is none
    or it cannot be rendered (preparing it says why)."""
    content = content_for(message, Channel.SMS, traits, template, deps)[1]
    assert message.data is not None  # checked before any preparation
    try:
        rendered = render_content(
            content, traits=traits, data=message.data, customer=message.customer
        )
    except TemplateRenderError:
        return None
    text = sms_text(rendered.text_body, message.workspace, message.purpose, deps)
    return sms_length.length_problem(text, deps.policy.max_sms_segments)


def sms_text(rendered: str, workspace: str, purpose: str, deps: Dependencies) -> str:
    """The text an SMS for `purpose` ("": unknown, none) goes out with: a marketing one
    (a purpose not listed as transactional) with its workspace's opt-out notice."""
    if not purpose or not is_marketing_purpose(purpose, deps):
        return rendered
    return deps.policy.sms_opt_out.applied(rendered, workspace)


def refuse_too_long_inline_sms(
    content: MessageContent, workspace: str, purpose: str, deps: Dependencies
) -> None:
    """InvalidArgument (SMS_TOO_LONG) on `content.text_body` when the SMS it sends is
    already too long: only when its text holds no template markup, so that what it
    renders to is known now (a variable or a condition could make it shorter)."""
    text = rendering.rendered_without_variables(content.text_body)
    if text is None:
        return
    problem = sms_length.length_problem(
        sms_text(text, workspace, purpose, deps), deps.policy.max_sms_segments
    )
    if problem is not None:
        raise InvalidArgument("content.text_body", problem, reason="SMS_TOO_LONG")

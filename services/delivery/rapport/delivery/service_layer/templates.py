"""Use cases of saved templates: create, read, list, update, delete, and render a preview.

A template is checked before it is stored: locale tags, sizes, syntax, and a render of
every part against its sample (domain/templates.py); bad input changes nothing.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from rapport.delivery.adapters.profile_client import ProfileNotFound
from rapport.delivery.adapters.upstream import UpstreamUnavailable, UpstreamUnreadable
from rapport.delivery.domain import names, sms_length, validation
from rapport.delivery.domain.model import Channel
from rapport.delivery.domain.rendering import TemplateRenderError
from rapport.delivery.domain.sms_length import SmsLength
from rapport.delivery.domain.templates import (
    BUILT_IN_SAMPLE_TRAITS,
    MAX_DISPLAY_NAME_LENGTH,
    RenderedContent,
    Template,
    check_against_sample,
    normalise_contents,
    normalise_locale,
    render_content,
)
from rapport.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from rapport.pagination import page_size, paginate
from rapport.resourcenames import ID_PATTERN, require_workspace
from rapport.sqlstore import run_with_retries

from . import commands
from .dependencies import Dependencies
from .preparation import sms_text
from .unit_of_work import DeliveryUnitOfWork

UPDATABLE_PATHS = ("display_name", "default_locale", "contents", "sample_traits", "sample_data")
_TEMPLATE_ID = re.compile(ID_PATTERN)


@dataclass(frozen=True)
class TemplatePage:
    templates: list[Template]
    # Empty on the last page.
    next_page_token: str


@dataclass(frozen=True)
class RenderedPreview:
    locale: str
    channel: Channel
    content: RenderedContent
    # For SMS: the length of `content.text_body` on the air, and the most segments sent.
    sms: SmsLength | None = None
    max_sms_segments: int = 0


def _workspace(parent: str, deps: Dependencies) -> str:
    workspace = names.parse_workspace(parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    return workspace


def _template_ids(name: str, deps: Dependencies, *, field: str = "name") -> tuple[str, str]:
    workspace, template_id = names.parse_template(name, field=field)
    require_workspace(workspace, deps.workspaces)
    return workspace, template_id


def _built(
    draft: commands.TemplateDraft, *, workspace: str, template_id: str, field: str
) -> Template:
    """The template `draft` describes, its sizes, locales and syntax checked
    (InvalidArgument naming `field`...), not yet rendered against its sample."""
    if len(draft.display_name) > MAX_DISPLAY_NAME_LENGTH:
        raise InvalidArgument(
            f"{field}.display_name", f"must be at most {MAX_DISPLAY_NAME_LENGTH} characters"
        )
    if draft.display_name and not draft.display_name.isprintable():
        raise InvalidArgument(f"{field}.display_name", "must contain only printable characters")
    if not draft.default_locale:
        raise InvalidArgument(f"{field}.default_locale", "is required")
    default_locale = normalise_locale(draft.default_locale)
    if default_locale is None:
        raise InvalidArgument(f"{field}.default_locale", "is not a locale tag (e.g. en, fr-CA)")
    contents = normalise_contents(draft.contents, field=field)
    if default_locale not in contents:
        raise InvalidArgument(f"{field}.contents", f"must hold the default locale {default_locale}")
    validation.validate_data(draft.sample_traits, field=f"{field}.sample_traits")
    validation.validate_data(draft.sample_data, field=f"{field}.sample_data")
    template = Template(
        id=template_id,
        workspace=workspace,
        display_name=draft.display_name,
        default_locale=default_locale,
        contents=contents,
        sample_traits=draft.sample_traits,
        sample_data=draft.sample_data,
    )
    return template


def _checked(
    draft: commands.TemplateDraft,
    deps: Dependencies,
    *,
    workspace: str,
    template_id: str,
    field: str,
) -> Template:
    """The template `draft` describes, checked as a save checks it."""
    template = _built(draft, workspace=workspace, template_id=template_id, field=field)
    check_against_sample(template, field=field, max_sms_segments=deps.policy.max_sms_segments)
    return template


async def create_template(cmd: commands.CreateTemplate, deps: Dependencies) -> Template:
    workspace = _workspace(cmd.parent, deps)
    if not cmd.template_id:
        raise InvalidArgument("template_id", "is required")
    if not _TEMPLATE_ID.fullmatch(cmd.template_id):
        raise InvalidArgument(
            "template_id", "must be 1 to 128 lower-case letters, digits, '-' or '_'"
        )
    template = _checked(
        cmd.draft, deps, workspace=workspace, template_id=cmd.template_id, field="template"
    )
    now = deps.clock()
    template.create_time = template.update_time = now

    async def add(uow: DeliveryUnitOfWork) -> None:
        # A concurrent create of the same id may commit first: the insert then fails
        # with a unique violation and the unit is redone, finding it.
        if await uow.templates.exists(workspace, template.id):
            raise AlreadyExists(template.name)
        await uow.templates.add(template)

    await run_with_retries(deps.uow_factory, add)
    return template


async def get_template(cmd: commands.GetTemplate, deps: Dependencies) -> Template:
    workspace, template_id = _template_ids(cmd.name, deps)
    async with deps.uow_factory(readonly=True) as uow:
        template = await uow.templates.get(workspace, template_id)
    if template is None:
        raise NotFound(cmd.name)
    return template


async def list_templates(cmd: commands.ListTemplates, deps: Dependencies) -> TemplatePage:
    workspace = _workspace(cmd.parent, deps)
    size = page_size(cmd.page_size)
    bound_to = f"ListTemplates|{cmd.parent}"
    position = deps.page_tokens.decode(cmd.page_token, bound_to=bound_to)
    after = str(position["id"]) if position is not None else None
    async with deps.uow_factory(readonly=True) as uow:
        rows = await uow.templates.list(workspace, after=after, limit=size + 1)
    page, next_token = paginate(
        rows, size, lambda t: {"id": t.id}, tokens=deps.page_tokens, bound_to=bound_to
    )
    return TemplatePage(templates=page, next_page_token=next_token)


def _update_paths(mask: tuple[str, ...]) -> set[str]:
    paths = set(mask) or set(UPDATABLE_PATHS)
    unknown = paths - set(UPDATABLE_PATHS)
    if unknown:
        raise InvalidArgument(
            "update_mask", f"unknown path; updatable: {', '.join(UPDATABLE_PATHS)}"
        )
    return paths


async def update_template(cmd: commands.UpdateTemplate, deps: Dependencies) -> Template:
    workspace, template_id = _template_ids(cmd.name, deps, field="template.name")
    paths = _update_paths(cmd.update_mask)
    async with deps.uow_factory() as uow:
        current = await uow.templates.get(workspace, template_id)
        if current is None:
            raise NotFound(cmd.name)
        merged = commands.TemplateDraft(
            **{
                path: getattr(cmd.draft, path) if path in paths else getattr(current, path)
                for path in UPDATABLE_PATHS
            }
        )
        updated = _checked(
            merged, deps, workspace=workspace, template_id=template_id, field="template"
        )
        updated = dataclasses.replace(
            updated, create_time=current.create_time, update_time=deps.clock()
        )
        await uow.templates.save(updated)
        await uow.commit()
    return updated


async def delete_template(cmd: commands.DeleteTemplate, deps: Dependencies) -> None:
    workspace, template_id = _template_ids(cmd.name, deps)
    async with deps.uow_factory() as uow:
        if not await uow.templates.remove(workspace, template_id):
            raise NotFound(cmd.name)
        await uow.commit()


# --- preview --------------------------------------------------------------------------------


async def _template_to_render(
    cmd: commands.RenderTemplate, workspace: str, deps: Dependencies
) -> Template:
    if bool(cmd.template) == (cmd.inline is not None):
        raise InvalidArgument("template", "give either template or inline_template")
    if cmd.inline is not None:
        # Sizes, locales and syntax only: the preview itself is where undefined
        # variables show.
        return _built(
            cmd.inline, workspace=workspace, template_id="inline", field="inline_template"
        )
    template_workspace, template_id = _template_ids(cmd.template, deps, field="template")
    if template_workspace != workspace:
        raise InvalidArgument("template", f"must be in {names.workspace_name(workspace)}")
    async with deps.uow_factory(readonly=True) as uow:
        template = await uow.templates.get(workspace, template_id)
    if template is None:
        raise NotFound(cmd.template)
    return template


async def _traits(
    cmd: commands.RenderTemplate, workspace: str, template: Template, deps: Dependencies
) -> dict[str, Any]:
    if not cmd.customer:
        if cmd.traits is not None:
            return cmd.traits
        return template.sample_traits or dict(BUILT_IN_SAMPLE_TRAITS)
    customer_workspace, _ = names.parse_customer(cmd.customer, field="customer")
    if customer_workspace != workspace:
        raise InvalidArgument("customer", f"must be in {names.workspace_name(workspace)}")
    if cmd.traits is not None:
        raise InvalidArgument("traits", "give either customer or traits")
    try:
        return (await deps.profiles.get_profile(cmd.customer)).traits
    except ProfileNotFound:
        raise NotFound(cmd.customer) from None
    except UpstreamUnreadable:
        raise FailedPrecondition(
            "PROFILE_UNREADABLE", "the customer's profile holds values that cannot be rendered"
        ) from None
    except UpstreamUnavailable as err:
        raise Unavailable(err.failure_code, "the profile service did not answer") from None


async def render_template(cmd: commands.RenderTemplate, deps: Dependencies) -> RenderedPreview:
    workspace = _workspace(cmd.parent, deps)
    channel = validation.require_send_channel(cmd.channel or Channel.EMAIL)
    if cmd.locale and normalise_locale(cmd.locale) is None:
        raise InvalidArgument("locale", "is not a locale tag (e.g. en, fr-CA)")
    if cmd.purpose:
        validation.validate_purpose(cmd.purpose)
    template = await _template_to_render(cmd, workspace, deps)
    traits = await _traits(cmd, workspace, template, deps)
    data = cmd.data if cmd.data is not None else template.sample_data
    wanted = cmd.locale or traits.get(deps.policy.locale_trait)
    locale, content = template.content(wanted if isinstance(wanted, str) else None)
    customer = cmd.customer or names.customer_name(workspace, "sample")
    try:
        rendered = render_content(
            content.for_channel(channel), traits=traits, data=data, customer=customer
        )
    except TemplateRenderError as err:
        raise FailedPrecondition(
            "TEMPLATE_ERROR",
            f"the template does not render: {err.describe()}",
            {"part": err.part, "locale": locale, "variable": err.variable},
        ) from None
    if channel is not Channel.SMS:
        return RenderedPreview(locale=locale, channel=channel, content=rendered)
    # As a send prepares it (preparation.py): the notice, then the length.
    text = sms_text(rendered.text_body, workspace, cmd.purpose, deps)
    return RenderedPreview(
        locale=locale,
        channel=channel,
        content=dataclasses.replace(rendered, text_body=text),
        sms=sms_length.measure(text),
        max_sms_segments=deps.policy.max_sms_segments,
    )

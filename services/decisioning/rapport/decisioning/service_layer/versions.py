"""Use cases of configuration versions: publish the draft, roll back, get, list, diff."""

from __future__ import annotations

import dataclasses
import logging

from rapport.decisioning.domain import names
from rapport.decisioning.domain.checks import MAX_TEXT_CHARS, text
from rapport.decisioning.domain.config import ConfigChange, ConfigVersion, DecisionConfig, diff
from rapport.errors import FailedPrecondition, InvalidArgument, NotFound
from rapport.pagination import page_size, paginate

from . import commands
from .dependencies import Dependencies
from .draft import edit_draft, read_draft, replace_draft
from .request_checks import served_name, served_workspace
from .segment_checks import SegmentCheck, edit_draft_with_segments
from .unit_of_work import DecisioningUnitOfWork

log = logging.getLogger(__name__)

MAX_DESCRIPTION_CHARS = 1000
NO_CHANGES = "NO_CHANGES"


def _description(value: str) -> str:
    return text(value, "description", min(MAX_DESCRIPTION_CHARS, MAX_TEXT_CHARS))


async def live_config(uow: DecisioningUnitOfWork, workspace: str) -> DecisionConfig:
    number = await uow.versions.live_number(workspace)
    config = await uow.versions.config(workspace, number) if number else None
    return config or DecisionConfig(workspace)


async def publish_content(
    uow: DecisioningUnitOfWork,
    deps: Dependencies,
    content: DecisionConfig,
    description: str,
    source_version: int | None = None,
) -> ConfigVersion:
    """Publish `content` as the next version (under the draft's lock)."""
    number = await uow.versions.live_number(content.workspace) + 1
    version = dataclasses.replace(content, version=number)
    info = await uow.versions.add(
        version, description=description, source_version=source_version, now=deps.clock()
    )
    return dataclasses.replace(info, live=True)


async def publish_draft(
    uow: DecisioningUnitOfWork,
    deps: Dependencies,
    workspace: str,
    description: str,
    segments: SegmentCheck,
) -> ConfigVersion | None:
    """Publish the draft (under the draft's lock); None when it equals the live version.
    Every segment its triggers name must be one of profile's."""
    draft = await read_draft(uow, workspace)
    live = await live_config(uow, workspace)
    if live.version and not diff(live, draft):
        return None
    segments.require(draft.triggers, "trigger.segment")
    return await publish_content(uow, deps, draft, description)


def _published(deps: Dependencies, info: ConfigVersion) -> ConfigVersion:
    deps.live.forget(info.workspace)
    log.info("configuration published", extra={"resource": info.name})
    return info


async def publish(cmd: commands.PublishDecisionConfig, deps: Dependencies) -> ConfigVersion:
    workspace = served_workspace(cmd.parent, deps.workspaces)
    description = _description(cmd.description)

    async def work(uow: DecisioningUnitOfWork, segments: SegmentCheck) -> ConfigVersion:
        info = await publish_draft(uow, deps, workspace, description, segments)
        if info is None:
            raise FailedPrecondition(NO_CHANGES, "the draft is the same as the live version")
        return info

    return _published(deps, await edit_draft_with_segments(deps, workspace, work))


async def publish_if_never_published(deps: Dependencies, workspace: str) -> None:
    """At start-up: a workspace that never published publishes its draft (an upgrade from
    before versions keeps deciding with what it had)."""

    async def work(uow: DecisioningUnitOfWork) -> ConfigVersion | None:
        if await uow.versions.live_number(workspace):
            return None
        draft = await read_draft(uow, workspace)
        if not (draft.actions or draft.groups or draft.triggers):
            return None
        return await publish_content(uow, deps, draft, "the draft at start-up (first version)")

    info = await edit_draft(deps, workspace, work)
    if info is not None:
        _published(deps, info)


def _version(value: str, workspace: str, field: str) -> int:
    """A version's number from its name; NotFound when it cannot be a version."""
    parsed = names.require_same_workspace(names.parse_version(value, field), workspace, field)
    number = names.version_number(parsed.id)
    if number is None:
        raise NotFound(value)
    return number


async def rollback(cmd: commands.RollbackDecisionConfig, deps: Dependencies) -> ConfigVersion:
    name = served_name(names.parse_version, cmd.name, deps.workspaces)
    number = _version(cmd.name, name.workspace, "name")
    description = _description(cmd.description) or f"rollback to version {number}"

    async def work(uow: DecisioningUnitOfWork, segments: SegmentCheck) -> ConfigVersion:
        content = await uow.versions.config(name.workspace, number)
        if content is None:
            raise NotFound(cmd.name)
        # Segments deleted in profile since that version was live would never fire.
        segments.require(content.triggers, "trigger.segment")
        await replace_draft(uow, content)
        return await publish_content(uow, deps, content, description, source_version=number)

    return _published(deps, await edit_draft_with_segments(deps, name.workspace, work))


async def get_version(cmd: commands.GetDecisionConfigVersion, deps: Dependencies) -> ConfigVersion:
    name = served_name(names.parse_version, cmd.name, deps.workspaces)
    number = _version(cmd.name, name.workspace, "name")
    async with deps.uow(readonly=True) as uow:
        info = await uow.versions.info(name.workspace, number)
        live = await uow.versions.live_number(name.workspace)
    if info is None:
        raise NotFound(cmd.name)
    return dataclasses.replace(info, live=info.version == live)


async def list_versions(
    cmd: commands.ListDecisionConfigVersions, deps: Dependencies
) -> tuple[list[ConfigVersion], str]:
    workspace = served_workspace(cmd.parent, deps.workspaces)
    size = page_size(cmd.page_size)
    bound_to = f"ListDecisionConfigVersions:{cmd.parent}"
    position = deps.page_tokens.decode(cmd.page_token, bound_to=bound_to)
    before = None
    if position is not None:
        before = position.get("before")
        if not isinstance(before, int) or isinstance(before, bool):
            raise InvalidArgument("page_token", "is not a token returned by this method")
    async with deps.uow(readonly=True) as uow:
        infos = await uow.versions.list_page(workspace, before=before, limit=size + 1)
        live = await uow.versions.live_number(workspace)
    marked = [dataclasses.replace(i, live=i.version == live) for i in infos]
    return paginate(
        marked, size, lambda i: {"before": i.version}, tokens=deps.page_tokens, bound_to=bound_to
    )


async def config_at(
    uow: DecisioningUnitOfWork, workspace: str, version: str, field: str, *, default: str
) -> DecisionConfig:
    """The configuration a request names: a version, else the `default` ("live" or "draft")."""
    if version:
        number = _version(version, workspace, field)
        config = await uow.versions.config(workspace, number)
        if config is None:
            raise NotFound(version)
        return config
    if default == "live":
        return await live_config(uow, workspace)
    return await read_draft(uow, workspace)


async def diff_versions(cmd: commands.DiffDecisionConfig, deps: Dependencies) -> list[ConfigChange]:
    workspace = served_workspace(cmd.parent, deps.workspaces)
    for value, field in (
        (cmd.base_version, "base_version"),
        (cmd.target_version, "target_version"),
    ):
        if value:
            _version(value, workspace, field)
    async with deps.uow(readonly=True) as uow:
        base = await config_at(uow, workspace, cmd.base_version, "base_version", default="live")
        target = await config_at(
            uow, workspace, cmd.target_version, "target_version", default="draft"
        )
    return diff(base, target)

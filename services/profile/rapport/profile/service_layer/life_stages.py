"""The life stage model of a workspace: Get/Update, and the evaluation that gives
every customer its stage (after an update; periodically when a rule depends on time),
run by the segment evaluator (service_layer.segments)."""

from __future__ import annotations

import asyncio

from rapport.errors import InvalidArgument
from rapport.profile.domain import names
from rapport.profile.domain.segments import LifeStageModel, check_stages, compile_rule
from rapport.resourcenames import require_workspace
from rapport.versionedcache import CacheInvalidationError

from . import commands
from .audiences import evaluate_stages_chunk
from .cache_invalidation import fence_before_commit, invalidate_after_commit
from .dependencies import Dependencies
from .rule_books import EVALUATION_LEASE, RULES

# A replica evaluating holds the model (or a segment) this long, renewed at each chunk.
LEASE = EVALUATION_LEASE


async def get_life_stage_model(
    cmd: commands.GetLifeStageModel, deps: Dependencies
) -> LifeStageModel:
    workspace = names.parse_life_stage_model(cmd.name, field="name")
    require_workspace(workspace, deps.workspaces)
    async with deps.uow(readonly=True) as uow:
        return await uow.life_stage_models.get_model(workspace)


async def update_life_stage_model(
    cmd: commands.UpdateLifeStageModel, deps: Dependencies
) -> LifeStageModel:
    """Replace the stages. Customers get their new stage as events change them."""
    workspace = names.parse_life_stage_model(cmd.name, field="life_stage_model.name")
    require_workspace(workspace, deps.workspaces)
    for i, path in enumerate(cmd.update_mask):
        if path != "stages":
            raise InvalidArgument(f"update_mask.paths[{i}]", "only `stages` can be updated")
    check_stages(RULES, cmd.stages, "life_stage_model.stages")
    now = deps.clock()
    # Every customer gets its stage by the new model, in the background, right away.
    model = LifeStageModel(workspace, tuple(cmd.stages), now, next_evaluation_time=now)
    async with deps.uow() as uow:
        await uow.life_stage_models.save_model(model)
        await uow.commit()
    deps.segment_wakeup.set()
    return model


async def evaluate_stage_model(deps: Dependencies, model: LifeStageModel) -> int:
    """Give every customer of the workspace its stage by the model, chunk by chunk;
    the number of signals. Then record the evaluation and, for rules depending on time,
    the next one."""
    assert model.update_time is not None
    rules = [
        (stage.stage, compile_rule(RULES, stage.rule, "rule", life_stage=True))
        for stage in model.stages
    ]
    now = deps.clock()
    after: str | None = None
    signals = 0
    while True:
        try:
            async with deps.uow() as uow:
                if not await uow.life_stage_models.claim_model(
                    model.workspace,
                    version=model.update_time,
                    due_by=None,
                    until=deps.clock() + LEASE,
                ):
                    return signals  # updated meanwhile: the new version is due
                result = await evaluate_stages_chunk(
                    uow, model.workspace, rules, now, after=after, size=deps.segment_chunk_size
                )
                # One fence for the chunk's changed customers: should this process die
                # after the commit, no replica serves their cached profiles from before.
                fence = await fence_before_commit(deps, model.workspace, result.changed)
                await uow.commit()
        except CacheInvalidationError:
            await _release_model(deps, model)  # the chunk was rolled back
            raise
        await invalidate_after_commit(deps, model.workspace, result.changed, fence=fence)
        if result.signals:
            deps.notifier.notify()
        signals += result.signals
        if result.last_customer is None:
            break
        after = result.last_customer
        await asyncio.sleep(0)
    time_dependent = any(rule.time_dependent for _, rule in rules)
    async with deps.uow() as uow:
        await uow.life_stage_models.mark_model_evaluated(
            model.workspace,
            version=model.update_time,
            evaluated=now,
            next_time=now + deps.segment_interval if time_dependent else None,
        )
        await uow.commit()
    return signals


async def _release_model(deps: Dependencies, model: LifeStageModel) -> None:
    """Due again at once (the evaluator's next round, from the first customer), not
    when the hold lapses: the chunk that could not be fenced was not committed."""
    assert model.update_time is not None
    async with deps.uow() as uow:
        await uow.life_stage_models.claim_model(
            model.workspace, version=model.update_time, due_by=None, until=deps.clock()
        )
        await uow.commit()


async def evaluate_due_models(deps: Dependencies, *, limit: int = 10) -> int:
    async with deps.uow(readonly=True) as uow:
        due = [
            await uow.life_stage_models.get_model(w)
            for w in await uow.life_stage_models.due_models(deps.clock(), limit)
        ]
    done = 0
    for model in due:
        if model.update_time is None:
            continue
        async with deps.uow() as uow:
            claimed = await uow.life_stage_models.claim_model(
                model.workspace,
                version=model.update_time,
                due_by=deps.clock(),
                until=deps.clock() + LEASE,
            )
            await uow.commit()
        if claimed:
            await evaluate_stage_model(deps, model)
            done += 1
    return done

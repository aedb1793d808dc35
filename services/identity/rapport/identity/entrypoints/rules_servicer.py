"""GetIdentityRules and UpdateIdentityRules: protobuf <-> identity rules."""

from __future__ import annotations

from datetime import timedelta

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from rapport.errors import InvalidArgument
from rapport.identity.domain.rules import (
    IdentifierTypeRule,
    IdentityRules,
    MatchingThresholds,
    Normalization,
)
from rapport.identity.service_layer import rules as rules_handlers
from rapport.identity.service_layer.handlers import IdentityContext
from rapport.identity.v1 import identity_service_pb2 as pb

_NORMALIZATION_FROM_PB = {
    pb.NORMALIZATION_UNSPECIFIED: Normalization.UNSPECIFIED,
    pb.NORMALIZATION_TRIM: Normalization.TRIM,
    pb.NORMALIZATION_EMAIL: Normalization.EMAIL,
    pb.NORMALIZATION_PHONE: Normalization.PHONE,
    pb.NORMALIZATION_LOWERCASE: Normalization.LOWERCASE,
}
_NORMALIZATION_TO_PB = {value: key for key, value in _NORMALIZATION_FROM_PB.items()}


class RulesRpcs:
    """Mixed into IdentityServicer."""

    _ctx: IdentityContext

    async def GetIdentityRules(  # noqa: N802 (generated method name)
        self, request: pb.GetIdentityRulesRequest, context: grpc.aio.ServicerContext
    ) -> pb.IdentityRules:
        name, rules = await rules_handlers.get_identity_rules(
            rules_handlers.GetIdentityRules(request.name), self._ctx
        )
        return rules_to_pb(name, rules)

    async def UpdateIdentityRules(  # noqa: N802
        self, request: pb.UpdateIdentityRulesRequest, context: grpc.aio.ServicerContext
    ) -> pb.IdentityRules:
        command = rules_handlers.UpdateIdentityRules(
            name=request.identity_rules.name,
            identity_rules=rules_from_pb(request.identity_rules),
            update_mask=tuple(request.update_mask.paths),
        )
        name, rules = await rules_handlers.update_identity_rules(command, self._ctx)
        return rules_to_pb(name, rules)


def rules_from_pb(message: pb.IdentityRules) -> IdentityRules:
    types = []
    for index, rule in enumerate(message.identifier_types):
        normalization = _NORMALIZATION_FROM_PB.get(rule.normalization)
        if normalization is None:
            raise InvalidArgument(
                f"identity_rules.identifier_types[{index}].normalization", "unknown value"
            )
        window = None
        if rule.HasField("limit_window"):
            window = timedelta(
                seconds=rule.limit_window.seconds, microseconds=rule.limit_window.nanos // 1000
            )
        types.append(
            IdentifierTypeRule(
                type=rule.type,
                normalization=normalization,
                fold_email_provider=rule.fold_email_provider,
                default_phone_region=rule.default_phone_region,
                limit=rule.limit,
                limit_window=window,
                blocked_patterns=tuple(rule.blocked_patterns),
            )
        )
    return IdentityRules(
        identifier_types=tuple(types),
        matching=MatchingThresholds(
            merge_threshold=message.matching.merge_threshold,
            review_threshold=message.matching.review_threshold,
        ),
    )


def rules_to_pb(name: str, rules: IdentityRules) -> pb.IdentityRules:
    message = pb.IdentityRules(
        name=name,
        identifier_types=[_type_rule_to_pb(rule) for rule in rules.identifier_types],
        matching=pb.MatchingThresholds(
            merge_threshold=rules.matching.merge_threshold,
            review_threshold=rules.matching.review_threshold,
        ),
    )
    if rules.update_time is not None:
        timestamp = Timestamp()
        timestamp.FromDatetime(rules.update_time)
        message.update_time.CopyFrom(timestamp)
    return message


def _type_rule_to_pb(rule: IdentifierTypeRule) -> pb.IdentifierTypeRule:
    message = pb.IdentifierTypeRule(
        type=rule.type,
        normalization=_NORMALIZATION_TO_PB[rule.normalization],
        fold_email_provider=rule.fold_email_provider,
        default_phone_region=rule.default_phone_region,
        limit=rule.limit,
        blocked_patterns=list(rule.blocked_patterns),
    )
    if rule.limit_window is not None:
        duration = Duration()
        duration.FromTimedelta(rule.limit_window)
        message.limit_window.CopyFrom(duration)
    return message

"""A GetProfile answer as the rules' `profile`: traits, computed traits, segments, life stage.

The profile contract grows computed traits, segments and a life stage; they are
read when the Profile message has them (a field named `computed_traits`,
`segments`, `life_stage`), whatever their exact shape: a map of values or of
messages carrying a `value`, a list of names or of messages carrying one, a
string, an enum or a message with a `name`/`stage`. Absent, they are empty.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from rapport.decisioning.domain.outbound import CustomerProfile
from rapport.wellknowntypes import value_to_python

_NAME_FIELDS = ("name", "segment", "id", "stage", "value")


def _plain(value: Any, path: str) -> Any:
    """A value of the answer as a plain Python value (InvalidArgument when it cannot be)."""
    if isinstance(value, struct_pb2.Value):
        return value_to_python(value, field_path=path)
    if isinstance(value, Message):
        fields = value.DESCRIPTOR.fields_by_name
        if "value" in fields and fields["value"].message_type is struct_pb2.Value.DESCRIPTOR:
            return value_to_python(value.value, field_path=f"{path}.value")  # type: ignore[attr-defined]
        return _label(value)
    return value


def _label(message: Message) -> str:
    """The name a message carries (a segment, a stage...)."""
    for name in _NAME_FIELDS:
        field = message.DESCRIPTOR.fields_by_name.get(name)
        if field is not None and field.type == FieldDescriptor.TYPE_STRING:
            return str(getattr(message, name))
    return ""


def _field(profile: Message, name: str) -> FieldDescriptor | None:
    return profile.DESCRIPTOR.fields_by_name.get(name)


def customer_profile(customer: str, profile: Message) -> CustomerProfile:
    traits = {
        key: value_to_python(trait.value, field_path=f"traits.{key}")
        for key, trait in profile.traits.items()  # type: ignore[attr-defined]
    }
    computed: dict[str, Any] = {}
    if _field(profile, "computed_traits") is not None:
        container = profile.computed_traits  # type: ignore[attr-defined]
        pairs = container.items() if hasattr(container, "items") else ()
        computed = {key: _plain(value, f"computed_traits.{key}") for key, value in pairs}
    segments: tuple[str, ...] = ()
    if _field(profile, "segments") is not None:
        segments = tuple(
            s if isinstance(s, str) else _label(s)
            for s in profile.segments  # type: ignore[attr-defined]
        )
    life_stage = ""
    stage_field = _field(profile, "life_stage")
    if stage_field is not None:
        stage = profile.life_stage  # type: ignore[attr-defined]
        if stage_field.enum_type is not None:
            known = stage_field.enum_type.values_by_number.get(stage) if stage else None
            life_stage = known.name if known is not None else ""
        else:
            life_stage = stage if isinstance(stage, str) else _label(stage)
    return CustomerProfile(customer, traits, computed, segments, life_stage)

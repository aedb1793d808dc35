"""The contracts as the tests see them: RPCs, resource types, resource references.

RPCs, request messages and their annotations (``google.api.resource``,
``resource_definition``, ``resource_reference``, ``field_behavior``) come from the
generated code the services run (``rapport.<svc>.v1.<svc>_service_pb2``); `make test`
checks that it matches ``protos/`` before the tests run.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

from google.api import field_behavior_pb2, resource_pb2
from google.protobuf.descriptor import (
    Descriptor,
    FieldDescriptor,
    FileDescriptor,
    MethodDescriptor,
)
from google.protobuf.message import Message

from ._suite import ServiceModules, all_service_modules, is_map, is_repeated

REQUIRED = field_behavior_pb2.REQUIRED
OUTPUT_ONLY = field_behavior_pb2.OUTPUT_ONLY
IDENTIFIER = field_behavior_pb2.IDENTIFIER

FREE_FORM = frozenset(
    {
        "google.protobuf.Struct",
        "google.protobuf.Value",
        "google.protobuf.ListValue",
        "google.protobuf.Any",
    }
)


@dataclass(frozen=True)
class ResourceType:
    type: str
    patterns: tuple[str, ...]


@dataclass(frozen=True)
class Reference:
    """A request field (at any depth) annotated with `google.api.resource_reference`."""

    path: tuple[FieldDescriptor, ...]  # from the request message down to the string field
    type: str
    child_type: str

    @property
    def dotted(self) -> str:
        return ".".join(f.name for f in self.path)

    @property
    def resource_type(self) -> str:
        """The resource type the reference exercises (the child for child_type)."""
        return self.type or self.child_type


def parent_pattern(pattern: str) -> str:
    """`a/{a}/b/{b}` -> `a/{a}`; a singleton `a/{a}/b` -> `a/{a}`."""
    segments = pattern.split("/")
    if segments[-1].startswith("{"):
        return "/".join(segments[:-2])
    return "/".join(segments[:-1])


def fill_pattern(pattern: str, workspace: str, ids: dict[str, str] | None = None) -> str:
    def value(match: re.Match[str]) -> str:
        var = match.group(1)
        if var == "workspace":
            return workspace
        if ids and var in ids:
            return ids[var]
        return "fz-" + var.replace("_", "-")

    return re.sub(r"\{([a-z_]+)\}", value, pattern)


def pattern_regex(pattern: str, workspace: str | None = None) -> re.Pattern[str]:
    regex = ""
    for part in re.split(r"(\{[a-z_]+\})", pattern):
        if part == "{workspace}" and workspace is not None:
            regex += re.escape(workspace)
        elif part.startswith("{"):
            regex += r"[^/]+"
        else:
            regex += re.escape(part)
    return re.compile(regex)


def _messages(container: Iterable[Descriptor]) -> Iterable[Descriptor]:
    for message in container:
        yield message
        yield from _messages(message.nested_types)


def _resources_of(files: Iterable[FileDescriptor]) -> dict[str, ResourceType]:
    found: dict[str, ResourceType] = {}
    for file in files:
        if not file.package.startswith("rapport."):
            continue
        for definition in file.GetOptions().Extensions[resource_pb2.resource_definition]:
            found[definition.type] = ResourceType(definition.type, tuple(definition.pattern))
        for message in _messages(file.message_types_by_name.values()):
            options = message.GetOptions()
            if options.HasExtension(resource_pb2.resource):
                resource = options.Extensions[resource_pb2.resource]
                found[resource.type] = ResourceType(resource.type, tuple(resource.pattern))
    return found


def _generated_files(modules: Sequence[ServiceModules]) -> list[FileDescriptor]:
    """The five services' files, their `rapport.*` imports, every `rapport.type.v1` file."""
    roots: list[FileDescriptor] = [m.pb2.DESCRIPTOR for m in modules]
    type_pkg = importlib.import_module("rapport.type.v1")
    for info in pkgutil.iter_modules(type_pkg.__path__):
        if info.name.endswith("_pb2"):
            roots.append(importlib.import_module(f"rapport.type.v1.{info.name}").DESCRIPTOR)
    seen: dict[str, FileDescriptor] = {}
    pending = list(roots)
    while pending:
        file = pending.pop()
        if file.name in seen or not file.package.startswith("rapport."):
            continue
        seen[file.name] = file
        pending.extend(file.dependencies)
    return sorted(seen.values(), key=lambda f: f.name)


# ---------------------------------------------------------------------------
# The contract


@dataclass
class Contract:
    modules: list[ServiceModules]

    # RPCs ---------------------------------------------------------------

    @property
    def methods(self) -> list[MethodDescriptor]:
        return [m for modules in self.modules for m in modules.methods]

    def owner(self, method: MethodDescriptor) -> str:
        for modules in self.modules:
            if method.containing_service.file.name == modules.pb2.DESCRIPTOR.name:
                return modules.name
        raise KeyError(method.full_name)

    # Resources ----------------------------------------------------------

    @cached_property
    def resource_types(self) -> dict[str, ResourceType]:
        """Every resource type of the contracts."""
        return _resources_of(_generated_files(self.modules))

    def resource_of(self, message: Descriptor) -> ResourceType | None:
        """The resource a message is (its `google.api.resource` option), if any."""
        options = message.GetOptions()
        if options.HasExtension(resource_pb2.resource):
            resource = options.Extensions[resource_pb2.resource]
            return ResourceType(resource.type, tuple(resource.pattern))
        return None

    # Field annotations ---------------------------------------------------

    def behaviors(self, f: FieldDescriptor) -> set[int]:
        return set(f.GetOptions().Extensions[field_behavior_pb2.field_behavior])

    def reference(self, f: FieldDescriptor) -> tuple[str, str] | None:
        """(type, child_type) of a string field's resource reference, if any."""
        if f.type != FieldDescriptor.TYPE_STRING:
            return None
        options = f.GetOptions()
        if options.HasExtension(resource_pb2.resource_reference):
            ref = options.Extensions[resource_pb2.resource_reference]
            if ref.type or ref.child_type:
                return ref.type, ref.child_type
        return None

    def identifies(self, f: FieldDescriptor) -> ResourceType | None:
        """The resource whose `name` (IDENTIFIER) field ``f`` is, if it is one."""
        if f.type != FieldDescriptor.TYPE_STRING:
            return None
        resource = self.resource_of(f.containing_type)
        if resource is None:
            return None
        if IDENTIFIER in self.behaviors(f) or f.name == "name":
            return resource
        return None

    def references(self, message: Descriptor, max_depth: int = 6) -> list[Reference]:
        """Every string field under ``message`` (nested, repeated) that names a resource:
        annotated with a resource reference, or the `name` of a resource message
        travelling in the request (e.g. the resource of an Update)."""
        found: list[Reference] = []

        def walk(current: Descriptor, path: tuple[FieldDescriptor, ...], seen: tuple[str, ...]):
            if current.full_name in FREE_FORM or len(path) >= max_depth:
                return
            for f in current.fields:
                ref = self.reference(f)
                resource = self.identifies(f)
                if ref is not None:
                    found.append(Reference((*path, f), *ref))
                elif resource is not None:
                    found.append(Reference((*path, f), resource.type, ""))
                elif f.message_type is not None and not is_map(f):
                    if f.message_type.full_name not in seen:
                        walk(f.message_type, (*path, f), (*seen, f.message_type.full_name))

        walk(message, (), (message.full_name,))
        return found


@cache
def contract() -> Contract:
    return Contract(all_service_modules())


# ---------------------------------------------------------------------------
# Building messages by path


def set_path(message: Message, path: Sequence[FieldDescriptor], value: Any) -> None:
    """Set the field at ``path`` (creating nested messages and the first repeated item)."""
    target = message
    for f in path[:-1]:
        if is_repeated(f):
            container = getattr(target, f.name)
            target = container[0] if len(container) else container.add()
        else:
            target = getattr(target, f.name)
    last = path[-1]
    if is_repeated(last):
        container = getattr(target, last.name)
        if len(container):
            container[0] = value
        else:
            container.append(value)
    else:
        setattr(target, last.name, value)

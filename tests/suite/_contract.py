"""The contracts as the tests see them: RPCs, resource types, resource references.

RPCs and request messages come from the generated code the services run
(``rapport.<svc>.v1.<svc>_service_pb2``). Annotations (``google.api.resource``,
``resource_definition``, ``resource_reference``, ``field_behavior``) come from
those descriptors and, when the generated code lags behind ``protos/`` (a
contract edited but not regenerated yet), from the ``.proto`` sources compiled
here with grpc_tools, mapped onto the generated messages field by field name.
Both agree once ``make proto`` has run; until then the tests still know what
the contract says.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from google.api import field_behavior_pb2, resource_pb2
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import (
    Descriptor,
    FieldDescriptor,
    FileDescriptor,
    MethodDescriptor,
)
from google.protobuf.message import Message

from ._suite import ServiceModules, all_service_modules, is_map, is_repeated

REPO = Path(__file__).resolve().parents[2]
PROTOS = REPO / "protos"

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


# ---------------------------------------------------------------------------
# The .proto sources


def _compile_sources() -> descriptor_pool.DescriptorPool | None:
    if not PROTOS.is_dir():
        return None
    import google.api
    import grpc_tools
    from grpc_tools import protoc

    files = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    googleapis = Path(google.api.__path__[0]).parent.parent
    well_known = Path(grpc_tools.__path__[0]) / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "contracts.pb")
        code = protoc.main(
            [
                "protoc",
                f"-I{PROTOS}",
                f"-I{well_known}",
                f"-I{googleapis}",
                "--include_imports",
                f"--descriptor_set_out={out}",
                *files,
            ]
        )
        if code != 0:
            raise RuntimeError(f"protoc could not compile {PROTOS} (exit {code})")
        files_set = descriptor_pb2.FileDescriptorSet.FromString(Path(out).read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files_set.file:
        pool.Add(file)
    return pool


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
    source: descriptor_pool.DescriptorPool | None
    # generated message full name -> the same message in the sources
    _source_of: dict[str, Descriptor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.source is None:
            return
        for method in self.methods:
            source_method = self.source_method(method)
            if source_method is not None:
                self._pair(method.input_type, source_method.input_type)
                self._pair(method.output_type, source_method.output_type)

    def _pair(self, generated: Descriptor, source: Descriptor) -> None:
        if generated.full_name in self._source_of:
            return
        self._source_of[generated.full_name] = source
        for f in generated.fields:
            other = source.fields_by_name.get(f.name)
            if other is not None and f.message_type is not None and other.message_type is not None:
                self._pair(f.message_type, other.message_type)

    # RPCs ---------------------------------------------------------------

    @property
    def methods(self) -> list[MethodDescriptor]:
        return [m for modules in self.modules for m in modules.methods]

    def owner(self, method: MethodDescriptor) -> str:
        for modules in self.modules:
            if method.containing_service.file.name == modules.pb2.DESCRIPTOR.name:
                return modules.name
        raise KeyError(method.full_name)

    def source_method(self, method: MethodDescriptor) -> MethodDescriptor | None:
        if self.source is None:
            return None
        try:
            service = self.source.FindServiceByName(method.containing_service.full_name)
        except KeyError:
            return None
        return service.methods_by_name.get(method.name)

    # Resources ----------------------------------------------------------

    @cached_property
    def generated_resource_types(self) -> dict[str, ResourceType]:
        return _resources_of(_generated_files(self.modules))

    @cached_property
    def source_resource_types(self) -> dict[str, ResourceType]:
        if self.source is None:
            return {}
        names = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
        return _resources_of(self.source.FindFileByName(name) for name in names)

    @cached_property
    def resource_types(self) -> dict[str, ResourceType]:
        """Every resource type of the contracts (generated code and sources)."""
        return {**self.source_resource_types, **self.generated_resource_types}

    def resource_of(self, message: Descriptor) -> ResourceType | None:
        """The resource a message is (its `google.api.resource` option), if any."""
        for descriptor in (message, self._source_of.get(message.full_name)):
            if descriptor is None:
                continue
            options = descriptor.GetOptions()
            if options.HasExtension(resource_pb2.resource):
                resource = options.Extensions[resource_pb2.resource]
                return ResourceType(resource.type, tuple(resource.pattern))
        return None

    # Field annotations ---------------------------------------------------

    def _annotated(self, f: FieldDescriptor) -> list[Any]:
        """The options of ``f`` in the generated code, then in the sources."""
        options = [f.GetOptions()]
        source = self._source_of.get(f.containing_type.full_name)
        if source is not None and f.name in source.fields_by_name:
            options.append(source.fields_by_name[f.name].GetOptions())
        return options

    def behaviors(self, f: FieldDescriptor) -> set[int]:
        for options in self._annotated(f):
            values = set(options.Extensions[field_behavior_pb2.field_behavior])
            if values:
                return values
        return set()

    def reference(self, f: FieldDescriptor) -> tuple[str, str] | None:
        """(type, child_type) of a string field's resource reference, if any."""
        if f.type != FieldDescriptor.TYPE_STRING:
            return None
        for options in self._annotated(f):
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
    return Contract(all_service_modules(), _compile_sources())


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

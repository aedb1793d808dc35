"""Requests for any RPC, generated from the descriptors: odd, plausible, mutated, raw.

- ``odd_message``: a well-formed message with odd values everywhere (strings from a
  pool, boundary numbers, NaN, unknown enum numbers, out-of-range Timestamps and
  Durations, deep Structs, random FieldMask paths, 0..N repeated items).
- ``plausible_message``: a request valid enough to reach the service layer: required
  fields set, resource names in the ``default`` workspace (names harvested from
  earlier responses when there are some), values guessed from field names.
- ``mutate``: a plausible request with one field changed to an odd value (or cleared).
- ``raw_cases``: random bytes, truncated and bit-flipped serialisations, hand-made
  wire-format oddities.

Field-name hints only make values likelier to be accepted; a field nobody hinted
gets generic values, so new fields and RPCs are fuzzed without changes here.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import text_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from ._contract import (
    FREE_FORM,
    IDENTIFIER,
    OUTPUT_ONLY,
    REQUIRED,
    Contract,
    ResourceType,
    fill_pattern,
    parent_pattern,
    pattern_regex,
)
from ._suite import is_map, is_repeated, message_class

WORKSPACE = "default"
UNKNOWN_WORKSPACE = "no-such-workspace"

F = FieldDescriptor
INT32_TYPES = {F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32}
INT64_TYPES = {F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64}
UINT32_TYPES = {F.TYPE_UINT32, F.TYPE_FIXED32}
UINT64_TYPES = {F.TYPE_UINT64, F.TYPE_FIXED64}

I32 = 2**31 - 1
I64 = 2**63 - 1
ODD_INT32 = [0, -1, 1, 2, 3, 7, 100, 1000, 1001, I32, -I32, -(2**31)]
ODD_INT64 = [*ODD_INT32, I64, -I64, -(2**63), 2**53 + 1]
ODD_UINT32 = [0, 1, 1001, 2**32 - 1]
ODD_UINT64 = [0, 1, 1001, 2**64 - 1]
ODD_DOUBLES = [
    math.nan,
    math.inf,
    -math.inf,
    -0.0,
    0.0,
    1e308,
    -1e308,
    5e-324,
    -5e-324,
    1e-300,
    0.5,
    1.0,
    0.99,
    0.8,
    1.0000001,
    2.0,
    -1.0,
    1e16,
]

LONG = "x" * 10_000
ODD_STRINGS = [
    "",
    " ",
    "-",
    "*",
    "_",
    "a",
    "A",
    "0",
    "-1",
    "1e309",
    "NaN",
    "null",
    "true",
    "None",
    "9" * 40,
    "a" * 63,
    "a" * 64,
    "a" * 128,
    "a" * 129,
    "a" * 201,
    "..",
    "../../etc/passwd",
    "a/b/c",
    "a b",
    "%00",
    "%2F",
    "\x00",
    "nul\x00byte",
    "\n\r\t",
    "  padded  ",
    "é",
    "Ω≈ç√∫",
    "漢字テスト",
    "😀🎉",
    "\u202eevil",
    "\ufeffbom",
    "e\u0301\u0301\u0301",
    "\U0001f600" * 300,
    LONG,
    "'; DROP TABLE customers; --",
    '" OR 1=1 --',
    "{{ 7*7 }}",
    "${jndi:ldap://x/a}",
    "%s%s%n%x",
    "<script>alert(1)</script>",
    "workspaces",
    "workspaces/",
    "workspaces/default",
    "workspaces/default/",
    "workspaces//customers/x",
    f"workspaces/{UNKNOWN_WORKSPACE}",
    "workspaces/DEFAULT",
    "workspaces/default/customers/-",
    "workspaces/default/customers/",
    "workspaces/default/customers/x/../y",
    "workspaces/default/customers/" + "a" * 5000,
    "workspaces/default/unknownThings/x",
]

CEL = [
    "",
    "true",
    "false",
    "1/0 == 1",
    "profile.traits.plan == 'gold'",
    "context.page == 'home'",
    "event.properties.amount > 100",
    "size(profile.traits) > 0",
    "has(context.x)",
    "profile.traits['missing'].deeper.still",
    "int('x') == 1",
    "timestamp('not a time') > now",
    "9223372036854775807 + 1 > 0",
    "-9223372036854775808 - 1 < 0",
    "dyn(1) == 'a'",
    "[1, 2, 3].map(x, x * 9223372036854775807).size() > 0",
    "'x'.matches('(')",
    "(((",
    "true &&",
    "1 +",
    "undefined_variable",
    "(" * 200 + "true" + ")" * 200,
    "[" * 300 + "]" * 300,
    "!" * 2000 + "true",
    " || ".join(["true"] * 2000),
    "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z" * 20,
    "'é' == '😀'",
]

TEMPLATES = [
    "Hello {{ traits.first_name }}",
    "Your policy renews soon",
    "",
    "{{",
    "{% if %}",
    "{{ data.x.y.z }}",
    "{{ traits | tojson }}",
    "{{ customer | upper }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{% include 'other' %}",
    "{% extends 'base' %}",
    "{% for i in range(100) %}{{ i }}{% endfor %}",
    "{% raw %}",
    "{{ 1/0 }}",
    "{{ undefined_name.attr }}",
    "{{ 'é' ~ '😀' }}",
]

REGEXES = ["^test.*", ".*", "(", "[a-", "\\", "(?P<x>", "*", "a{2,1}", "(a|b)+", "[[:alpha:]]"]

IDENTIFIER_TYPES = ["email", "phone", "user_id", "anonymous_id", "device_id"]
ODD_IDENTIFIER_TYPES = ["", "EMAIL", "bogus", "e mail", "email ", "ユーザー", "a" * 200]


def _token(rng: random.Random) -> str:
    return f"{rng.getrandbits(40):010x}"


# Field name (regex) -> (plausible values or a factory, odd values).
_HINTS: list[tuple[re.Pattern[str], Any, list[str]]] = [
    (
        re.compile(r"(^|_)email$"),
        lambda rng: rng.choice(["ann", "bob", _token(rng)]) + "@example.com",
        ["not-an-email", "@", "a@", "@b", "ANN@EXAMPLE.COM ", "a" * 300 + "@example.com"],
    ),
    (
        re.compile(r"(^|_)phone(_number)?$"),
        lambda rng: "+1650253" + f"{rng.randrange(10_000):04d}",
        ["+999", "abc", "+1" + "9" * 30, "(650) 253-0000", "0", "+"],
    ),
    (
        re.compile(r"^purpose$"),
        lambda rng: rng.choice(["marketing", "service", "renewals"]),
        ["MARKETING", "bad purpose", "a" * 300, "marketing!", "é"],
    ),
    (
        re.compile(r"region"),
        lambda rng: rng.choice(["US", "GB", "FR"]),
        ["", "ZZ", "us", "USA", "1"],
    ),
    (
        re.compile(r"birth_date"),
        lambda rng: rng.choice(["1990-01-01", "1985-12-31", "2001-07-04"]),
        ["2020-02-30", "0000-00-00", "9999-12-31", "1990/01/01", "yesterday", "1990-1-1"],
    ),
    (
        re.compile(r"given_name|family_name|display_name|locality|address_line|street|region"),
        lambda rng: rng.choice(["Ann", "Lovelace", "Main Street", "London", "12"]),
        ["", "'", "O'Brien-Smith", "\u0000"],
    ),
    (
        re.compile(r"postal_code"),
        lambda rng: rng.choice(["94043", "SW1A 1AA"]),
        ["", "-----", "0" * 100],
    ),
    (re.compile(r"^(condition|eligibility)$"), lambda rng: rng.choice(CEL[:3]), CEL),
    (re.compile(r"subject|body"), lambda rng: rng.choice(TEMPLATES[:2]), TEMPLATES),
    (re.compile(r"pattern"), lambda rng: rng.choice(REGEXES[:2]), REGEXES),
    (
        re.compile(r"idempotency_key|message_id"),
        lambda rng: "fz-" + _token(rng),
        ["", "a" * 200, "a" * 201, " ", "é"],
    ),
    (
        re.compile(r"(^|_)id$"),
        lambda rng: "fz" + _token(rng),
        ["", "A", "1a", "-a", "a" * 63, "a" * 64, "a b", "a_b", "é"],
    ),
    (
        re.compile(r"^event(_name)?$"),
        lambda rng: rng.choice(["Policy Renewal Due", "Signed Up", "Order Completed"]),
        ["", " ", "a" * 1000],
    ),
    (
        re.compile(r"cursor|page_token"),
        lambda rng: "",
        ["0", "-1", "abc", "AAAA", "==", "9" * 30, "eyJhIjoxfQ", "gAAAAABf" + "A" * 40],
    ),
    (re.compile(r"^source$"), lambda rng: rng.choice(["fuzz", "web_form"]), []),
    (re.compile(r"^type$"), lambda rng: rng.choice(IDENTIFIER_TYPES), ODD_IDENTIFIER_TYPES),
    (re.compile(r"version"), lambda rng: rng.choice(["v1", "2024-01"]), []),
    (re.compile(r"^proof$"), lambda rng: "form-" + _token(rng), []),
    (re.compile(r"^key$"), lambda rng: rng.choice(["plan", "email"]), ["", "a.b", "$"]),
]


def _hint(name: str) -> tuple[Any, list[str]] | None:
    for pattern, plausible, odd in _HINTS:
        if pattern.search(name):
            return plausible, odd
    return None


@dataclass
class Case:
    kind: str  # "plausible" | "odd" | "mutated" | "raw"
    index: int
    request: Message | bytes
    note: str = ""


class Factory:
    """Builds requests for one contract; ``harvested`` names real resources."""

    def __init__(self, contract: Contract, harvested: Mapping[str, list[str]] | None = None):
        self.contract = contract
        self.types: dict[str, ResourceType] = contract.resource_types
        self.harvested: dict[str, list[str]] = {k: list(v) for k, v in (harvested or {}).items()}
        self.tokens: list[str] = []  # page tokens and cursors seen in responses
        self._regexes = [
            (type_name, pattern_regex(p, WORKSPACE))
            for type_name, resource in self.types.items()
            for p in resource.patterns
        ]
        patterns = {p for r in self.types.values() for p in r.patterns}
        patterns |= {parent_pattern(p) for p in patterns if parent_pattern(p)}
        self.all_patterns = sorted(patterns)
        self.default_names = [fill_pattern(p, WORKSPACE) for p in self.all_patterns]

    # Harvesting -----------------------------------------------------------

    def harvest(self, message: Message, depth: int = 0) -> None:
        """Remember resource names (in ``default``) and page tokens found in a response."""
        if depth > 6 or message.DESCRIPTOR.full_name in FREE_FORM:
            return
        for f, value in message.ListFields():
            values = value if is_repeated(f) and not is_map(f) else [value]
            if is_map(f):
                continue
            for item in list(values)[:20]:
                if f.type == F.TYPE_STRING:
                    self._remember(f.name, item)
                elif f.message_type is not None:
                    self.harvest(item, depth + 1)

    def _remember(self, field_name: str, value: str) -> None:
        if not value:
            return
        if "token" in field_name or "cursor" in field_name:
            if value not in self.tokens and len(self.tokens) < 50:
                self.tokens.append(value)
            return
        for type_name, regex in self._regexes:
            if regex.fullmatch(value):
                names = self.harvested.setdefault(type_name, [])
                if value not in names and len(names) < 50:
                    names.append(value)

    def forget(self, name: str) -> None:
        """A resource that was deleted: stop offering its name as a real one."""
        for names in self.harvested.values():
            if name in names:
                names.remove(name)

    def real_names(self, pattern: str) -> list[str]:
        regex = pattern_regex(pattern, WORKSPACE)
        real = [n for names in self.harvested.values() for n in names if regex.fullmatch(n)]
        parent = parent_pattern(pattern)
        if real or not parent or parent == pattern:
            return real
        # No such resource seen: a real parent with the rest of the pattern (a customer's
        # `.../profile`, `.../events/fz-event`) gets closer than a made-up parent.
        suffix = fill_pattern(pattern[len(parent) :], WORKSPACE)
        return [name + suffix for name in self.real_names(parent)]

    # Names ----------------------------------------------------------------

    def _target_patterns(self, ref: tuple[str, str]) -> list[str]:
        type_name, child_type = ref
        if type_name and type_name in self.types:
            return list(self.types[type_name].patterns)
        if child_type and child_type in self.types:
            return [parent_pattern(p) for p in self.types[child_type].patterns]
        return []

    def plausible_name(self, rng: random.Random, patterns: list[str]) -> str:
        if not patterns:
            return fill_pattern("workspaces/{workspace}", WORKSPACE)
        pattern = rng.choice(patterns)
        real = self.real_names(pattern)
        if real and rng.random() < 0.85:
            return rng.choice(real)
        return fill_pattern(pattern, WORKSPACE, _all_ids(pattern, "fz" + _token(rng)))

    def odd_name(self, rng: random.Random, patterns: list[str]) -> str:
        pattern = rng.choice(patterns) if patterns else rng.choice(self.all_patterns)
        choice = rng.randrange(14)
        if choice == 0:
            return fill_pattern(pattern, UNKNOWN_WORKSPACE)
        if choice == 1:
            return fill_pattern(pattern, "brand-b")  # known, but empty
        if choice == 2:
            return fill_pattern(pattern, WORKSPACE, _all_ids(pattern, "-"))
        if choice == 3:
            odd_id = rng.choice(["A", "a" * 129, "é", "", "x/y", "..", " ", "a" * 5000, "\x00"])
            return fill_pattern(pattern, WORKSPACE, _all_ids(pattern, odd_id))
        if choice == 4:
            return fill_pattern(pattern, WORKSPACE) + "/"
        if choice == 5:
            return fill_pattern(pattern, WORKSPACE) + "/extra/1"
        if choice == 6:
            return fill_pattern(pattern, "DEFAULT")
        if choice == 7:
            return pattern  # the template itself
        if choice == 8:
            return rng.choice(self.default_names)  # another type's name
        if choice == 9:
            real = [n for names in self.harvested.values() for n in names]
            return rng.choice(real) if real else fill_pattern(pattern, WORKSPACE)
        if choice == 10:
            # A real name with the workspace swapped: exists, but elsewhere.
            real = self.real_names(pattern)
            name = rng.choice(real) if real else fill_pattern(pattern, WORKSPACE)
            return name.replace(f"workspaces/{WORKSPACE}/", "workspaces/brand-b/", 1)
        if choice == 11:
            return fill_pattern(pattern, WORKSPACE).upper()
        if choice == 12:
            return " " + fill_pattern(pattern, WORKSPACE) + " "
        return fill_pattern(pattern, "")

    # Scalars --------------------------------------------------------------

    def odd_string(self, rng: random.Random, f: FieldDescriptor) -> str:
        ref = self.contract.reference(f)
        if ref is not None and rng.random() < 0.85:
            # Often a good name: the request then gets past it to its other odd fields.
            patterns = self._target_patterns(ref)
            if rng.random() < 0.5:
                return self.plausible_name(rng, patterns)
            return self.odd_name(rng, patterns)
        hint = _hint(f.name)
        roll = rng.random()
        if hint is not None and roll < 0.5:
            plausible, odd = hint
            if odd and roll < 0.35:
                return rng.choice(odd)
            return plausible(rng)
        if "token" in f.name or "cursor" in f.name:
            if self.tokens and roll < 0.7:
                return rng.choice(self.tokens)
        if roll < 0.85:
            return rng.choice(ODD_STRINGS)
        if roll < 0.95:
            return rng.choice(self.default_names)
        return "".join(
            chr(rng.choice([rng.randrange(32, 127), rng.randrange(0xA0, 0xD7FF)]))
            for _ in range(rng.randrange(1, 40))
        )

    def odd_scalar(self, rng: random.Random, f: FieldDescriptor) -> Any:
        t = f.type
        if t == F.TYPE_STRING:
            return self.odd_string(rng, f)
        if t == F.TYPE_BYTES:
            return rng.randbytes(rng.choice([0, 1, 16, 1000]))
        if t == F.TYPE_BOOL:
            return rng.random() < 0.5
        if t == F.TYPE_ENUM:
            numbers = [v.number for v in f.enum_type.values]
            unknown = [max(numbers) + 1, 99, -1, I32, -(2**31)]
            return rng.choice(numbers + unknown) if rng.random() < 0.8 else rng.choice(unknown)
        if t in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
            return rng.choice(ODD_DOUBLES)
        if t in INT32_TYPES:
            return rng.choice(ODD_INT32)
        if t in INT64_TYPES:
            return rng.choice(ODD_INT64)
        if t in UINT32_TYPES:
            return rng.choice(ODD_UINT32)
        if t in UINT64_TYPES:
            return rng.choice(ODD_UINT64)
        raise TypeError(f"no generator for field type {t} ({f.full_name})")

    def plausible_scalar(self, rng: random.Random, f: FieldDescriptor) -> Any:
        t = f.type
        if t == F.TYPE_STRING:
            ref = self.contract.reference(f)
            if ref is not None:
                return self.plausible_name(rng, self._target_patterns(ref))
            hint = _hint(f.name)
            if hint is not None:
                return hint[0](rng)
            return "fz-" + _token(rng)
        if t == F.TYPE_BYTES:
            return rng.randbytes(8)
        if t == F.TYPE_BOOL:
            return rng.random() < 0.3
        if t == F.TYPE_ENUM:
            numbers = [v.number for v in f.enum_type.values if v.number != 0]
            if not numbers:
                return 0
            # The first value after UNSPECIFIED is usually the common one (CHANNEL_EMAIL).
            return numbers[0] if rng.random() < 0.5 else rng.choice(numbers)
        if t in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
            return rng.choice([0.5, 0.9, 1.0, 0.5, 0.9, 0.0])
        return rng.choice([0, 0, 1, 2, 5, 10])

    # Well-known types ---------------------------------------------------------

    def odd_wkt(self, rng: random.Random, message: Message, owner: Descriptor | None) -> bool:
        """Fill a well-known type with odd content; False when ``message`` is not one.

        ``owner``: the message holding it (a FieldMask names fields of its sibling).
        """
        name = message.DESCRIPTOR.full_name
        now = int(time.time())
        if name == "google.protobuf.Timestamp":
            seconds, nanos = rng.choice(
                [
                    (now, 0),
                    (0, 0),
                    (-62135596800, 0),
                    (253402300799, 999_999_999),
                    (253402300800, 0),
                    (-62135596801, 0),
                    (now, -1),
                    (now, 1_000_000_000),
                    (I64, 0),
                    (-(2**63), 0),
                    (now + 10**6, 0),
                    (now + 400 * 86400, 0),
                    (now - 20 * 365 * 86400, 0),
                    (now + 299, 0),
                    (now + 301, 0),
                ]
            )
            message.seconds, message.nanos = seconds, nanos
        elif name == "google.protobuf.Duration":
            seconds, nanos = rng.choice(
                [
                    (0, 0),
                    (1, 0),
                    (-1, 0),
                    (86400, 0),
                    (315576000000, 0),
                    (315576000001, 0),
                    (-315576000001, 0),
                    (1, -1),
                    (-1, 1),
                    (0, 1_000_000_000),
                    (I64, 0),
                    (0, -1),
                ]
            )
            message.seconds, message.nanos = seconds, nanos
        elif name == "google.protobuf.FieldMask":
            pool = ["", "*", "name", "a.b", "unknown_field", "UPPER", "é", "x" * 300, "a..b", "."]
            for _ in range(rng.randrange(0, 5)):
                message.paths.append(rng.choice(pool + mask_paths(owner)))
        elif name == "google.protobuf.Struct":
            # 40 levels are past protobuf's parse limit (the request is then malformed);
            # 20 and 30 reach the service.
            self.odd_struct(rng, message, rng.choice([1, 2, 3, 20, 30, 40]))
        elif name == "google.protobuf.Value":
            self.odd_value(rng, message, rng.choice([1, 2, 30, 40]))
        elif name == "google.protobuf.ListValue":
            for _ in range(rng.choice([0, 1, 3, 2000])):
                self.odd_value(rng, message.values.add(), 1)
        elif name == "google.protobuf.Any":
            message.type_url = rng.choice(["", "type.googleapis.com/x", "junk"])
            message.value = rng.randbytes(rng.randrange(0, 20))
        elif name == "google.protobuf.Empty":
            pass
        elif name.startswith("google.protobuf.") and name.endswith("Value"):
            value_field = message.DESCRIPTOR.fields_by_name["value"]
            message.value = self.odd_scalar(rng, value_field)
        else:
            return False
        return True

    def odd_struct(self, rng: random.Random, struct: Message, depth: int) -> None:
        keys = ["", "a", "email", "plan", "x" * 200, "é", "$where", "__proto__", "amount", "0"]
        if depth >= 10:  # a deep chain: one nested struct per level
            inner = struct.fields[rng.choice(keys)].struct_value
            inner.Clear()
            self.odd_struct(rng, inner, depth - 1)
            return
        for _ in range(rng.randrange(0, 4)):
            self.odd_value(rng, struct.fields[rng.choice(keys)], depth - 1)

    def odd_value(self, rng: random.Random, value: Message, depth: int) -> None:
        kinds = ["null", "number", "string", "bool"]
        if depth > 0:
            kinds += ["struct", "list"]
        kind = rng.choice(kinds)
        if kind == "null":
            value.null_value = 0
        elif kind == "number":
            value.number_value = rng.choice(ODD_DOUBLES + [42.0, 2.0**53 + 1])
        elif kind == "string":
            value.string_value = rng.choice(ODD_STRINGS)
        elif kind == "bool":
            value.bool_value = rng.random() < 0.5
        elif kind == "struct":
            value.struct_value.Clear()
            self.odd_struct(rng, value.struct_value, depth)
        else:
            value.list_value.Clear()
            size = rng.choice([0, 1, 3, 2000])
            for _ in range(size):
                item = value.list_value.values.add()
                if size > 10:
                    item.number_value = rng.random()
                else:
                    self.odd_value(rng, item, depth - 1)

    def plausible_wkt(self, rng: random.Random, message: Message, f: FieldDescriptor) -> bool:
        """Fill a well-known type (field ``f``) plausibly; False when it is not one."""
        name = message.DESCRIPTOR.full_name
        now = time.time()
        if name == "google.protobuf.Timestamp":
            offset = -rng.uniform(1, 3600)
            if "end" in f.name:
                offset = 30 * 86400
            message.FromSeconds(int(now + offset))
        elif name == "google.protobuf.Duration":
            message.FromSeconds(86400)
        elif name == "google.protobuf.FieldMask":
            paths = mask_paths(f.containing_type)
            for path in rng.sample(paths, k=rng.randrange(0, len(paths) + 1)) if paths else []:
                message.paths.append(path)
        elif name == "google.protobuf.Struct":
            samples = {
                "traits": {"email": "ann@example.com", "first_name": "Ann", "plan": "gold"},
                "properties": {"amount": 42, "policy_id": "HOME-0042", "days": 21},
                "context": {"page": "home", "locale": "en-GB"},
            }
            message.update(samples.get(f.name, {"x": 1, "label": "fz"}))
        elif name == "google.protobuf.Value":
            message.string_value = "fz"
        elif name == "google.protobuf.ListValue":
            message.values.add().number_value = 1
        elif name in ("google.protobuf.Any", "google.protobuf.Empty"):
            pass
        elif name.startswith("google.protobuf.") and name.endswith("Value"):
            value_field = message.DESCRIPTOR.fields_by_name["value"]
            message.value = self.plausible_scalar(rng, value_field)
        else:
            return False
        return True

    # Messages ---------------------------------------------------------------

    def odd_message(self, rng: random.Random, descriptor: Descriptor) -> Message:
        message = message_class(descriptor)()
        self._fill_odd(rng, message, 0)
        return message

    def _fill_odd(
        self, rng: random.Random, message: Message, depth: int, owner: Descriptor | None = None
    ) -> None:
        if self.odd_wkt(rng, message, owner):
            return
        descriptor = message.DESCRIPTOR
        chosen_oneof_fields = {
            rng.choice(o.fields).full_name for o in descriptor.oneofs if rng.random() < 0.8
        }
        for f in descriptor.fields:
            if f.containing_oneof is not None and f.full_name not in chosen_oneof_fields:
                continue
            if rng.random() < 0.4:
                continue
            self._set_odd(rng, message, f, depth)

    def _set_odd(self, rng: random.Random, message: Message, f: FieldDescriptor, depth: int):
        if is_map(f):
            key_f = f.message_type.fields_by_name["key"]
            value_f = f.message_type.fields_by_name["value"]
            container = getattr(message, f.name)
            for _ in range(rng.choice([0, 1, 3])):
                key = self.odd_scalar(rng, key_f)
                if value_f.message_type is not None:
                    self._fill_odd(rng, container[key], depth + 1)
                else:
                    container[key] = self.odd_scalar(rng, value_f)
            return
        if is_repeated(f):
            container = getattr(message, f.name)
            size = rng.choice([0, 1, 1, 2, 3, 5])
            if rng.random() < 0.04:
                size = 1001  # over the documented batch limits
            for _ in range(size):
                if f.message_type is not None:
                    item = container.add()
                    if size > 10:
                        self._fill_plausible(rng, item, depth + 1)
                    else:
                        self._fill_odd(rng, item, depth + 1, message.DESCRIPTOR)
                else:
                    container.append(self.odd_scalar(rng, f))
            return
        if f.message_type is not None:
            if depth >= 4 and f.message_type.full_name not in FREE_FORM:
                getattr(message, f.name).SetInParent()
                return
            self._fill_odd(rng, getattr(message, f.name), depth + 1, message.DESCRIPTOR)
            return
        setattr(message, f.name, self.odd_scalar(rng, f))

    def plausible_message(self, rng: random.Random, descriptor: Descriptor) -> Message:
        message = message_class(descriptor)()
        self._fill_plausible(rng, message, 0)
        return message

    def _fill_plausible(self, rng: random.Random, message: Message, depth: int) -> None:
        descriptor = message.DESCRIPTOR
        fields = descriptor.fields_by_name
        # An identifier (type + value): a value that fits its type.
        if set(fields) >= {"type", "value"} and fields["type"].type == F.TYPE_STRING == (
            fields["value"].type
        ):
            kind = rng.choice(IDENTIFIER_TYPES)
            who = rng.choice(["ann", "bob", "cy", _token(rng)])
            message.type = kind
            message.value = {
                "email": f"{who}@example.com",
                "phone": "+1650253" + f"{sum(map(ord, who)) % 10_000:04d}",
            }.get(kind, f"{kind}-{who}")
            return
        resource = self.contract.resource_of(descriptor)
        chosen_oneof_fields = {rng.choice(o.fields).full_name for o in descriptor.oneofs}
        for f in descriptor.fields:
            behaviors = self.contract.behaviors(f)
            if OUTPUT_ONLY in behaviors:
                continue
            if f.containing_oneof is not None and f.full_name not in chosen_oneof_fields:
                continue
            if IDENTIFIER in behaviors or (resource is not None and f.name == "name"):
                if resource is not None:
                    message.name = self.plausible_name(rng, list(resource.patterns))
                continue
            chosen = f.containing_oneof is not None
            likely = 0.9 if _hint(f.name) is not None else 0.5
            if REQUIRED not in behaviors and not chosen and rng.random() > likely:
                continue
            self._set_plausible(rng, message, f, depth)

    def _set_plausible(self, rng: random.Random, message: Message, f: FieldDescriptor, depth):
        if is_map(f):
            return
        if f.message_type is not None:
            if depth >= 5:
                return
            items = (
                [getattr(message, f.name).add() for _ in range(rng.choice([1, 1, 2]))]
                if is_repeated(f)
                else [getattr(message, f.name)]
            )
            for item in items:
                if not self.plausible_wkt(rng, item, f):
                    self._fill_plausible(rng, item, depth + 1)
                    item.SetInParent()
            return
        if is_repeated(f):
            container = getattr(message, f.name)
            for _ in range(rng.choice([1, 1, 2])):
                container.append(self.plausible_scalar(rng, f))
            return
        setattr(message, f.name, self.plausible_scalar(rng, f))

    # Mutations -------------------------------------------------------------

    def mutation_points(
        self, descriptor: Descriptor, path: tuple[FieldDescriptor, ...] = (), depth: int = 0
    ) -> Iterator[tuple[FieldDescriptor, ...]]:
        for f in descriptor.fields:
            yield (*path, f)
            if (
                f.message_type is not None
                and not is_map(f)
                and depth < 3
                and not f.message_type.full_name.startswith("google.protobuf.")
            ):
                yield from self.mutation_points(f.message_type, (*path, f), depth + 1)

    def mutate(self, rng: random.Random, base: Message) -> tuple[Message, str]:
        """A copy of ``base`` with one field (at any depth; sometimes 2 or 3) changed or
        cleared."""
        message = type(base)()
        message.CopyFrom(base)
        notes = [self._mutate_one(rng, message)]
        if rng.random() < 0.25:
            notes += [self._mutate_one(rng, message) for _ in range(rng.randrange(1, 3))]
        return message, "; ".join(notes)

    def _mutate_one(self, rng: random.Random, message: Message) -> str:
        points = list(self.mutation_points(message.DESCRIPTOR))
        path = rng.choice(points)
        target = message
        for f in path[:-1]:
            if is_repeated(f):
                container = getattr(target, f.name)
                target = container[rng.randrange(len(container))] if container else container.add()
            else:
                target = getattr(target, f.name)
        f = path[-1]
        dotted = ".".join(p.name for p in path)
        if rng.random() < 0.15:
            target.ClearField(f.name)
            return f"cleared {dotted}"
        if is_repeated(f) and not is_map(f) and rng.random() < 0.5:
            container = getattr(target, f.name)
            if f.message_type is not None:
                self._fill_odd(rng, container.add(), 1, target.DESCRIPTOR)
            else:
                container.append(self.odd_scalar(rng, f))
            return f"appended an odd item to {dotted}"
        target.ClearField(f.name)
        self._set_odd(rng, target, f, 1)
        return f"odd {dotted}"

    # Raw bytes ---------------------------------------------------------------

    def raw(self, rng: random.Random, descriptor: Descriptor) -> tuple[bytes, str]:
        valid = self.plausible_message(rng, descriptor).SerializeToString()
        choice = rng.randrange(8)
        if choice == 0 or not valid:
            return rng.randbytes(rng.randrange(1, 64)), "random bytes"
        if choice == 1:
            cut = rng.randrange(0, len(valid))
            return valid[:cut], f"truncated at {cut} of {len(valid)}"
        if choice in (2, 3):
            data = bytearray(valid)
            flips = rng.randrange(1, 5)
            for _ in range(flips):
                bit = rng.randrange(len(data) * 8)
                data[bit // 8] ^= 1 << (bit % 8)
            return bytes(data), f"{flips} bits flipped"
        if choice == 4:
            return valid + rng.choice(_WIRE_ODDITIES), "valid + wire oddity"
        if choice == 5:
            return rng.choice(_WIRE_ODDITIES), "wire oddity"
        if choice == 6:
            return valid + _nest(rng.randrange(50, 300)), "deeply nested unknown field"
        # Unknown fields (every wire type) after a valid message: must be ignored.
        return valid + b"\xb8\x3e\x01\xc1\x3e" + b"\x00" * 8 + b"\xca\x3e\x01x", "unknown fields"


def mask_paths(owner: Descriptor | None) -> list[str]:
    """Field names of the resource a FieldMask travels with (its first message sibling)."""
    if owner is None:
        return []
    for f in owner.fields:
        if f.message_type is not None and not f.message_type.full_name.startswith("google."):
            return [g.name for g in f.message_type.fields]
    return []


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _nest(levels: int) -> bytes:
    """Field 999 (length-delimited) nested ``levels`` deep."""
    payload = b""
    for _ in range(levels):
        payload = b"\xba\x3e" + _varint(len(payload)) + payload
    return payload


_WIRE_ODDITIES = [
    b"\x0a\xff\xff\xff\xff\x0f",  # field 1, length 4 GiB
    b"\x0a\x05ab",  # length past the end
    b"\x0a\x02\xff\xfe",  # field 1 as invalid UTF-8
    b"\x08" + b"\xff" * 11,  # overlong varint
    b"\x00\x01",  # field number 0
    b"\x0e\x01",  # wire type 6
    b"\x0f\x01",  # wire type 7
    b"\x0b\x0c",  # start group / end group
    b"\x0b",  # unterminated group
    b"\x12\x03\x0a\x01",  # a nested message cut short
    b"\x10\x01\x10\x02\x10\x03",  # field 2 as varints (wrong wire type when it is a message)
    b"\x15\x00\x00\x80\x7f",  # field 2 fixed32 (inf)
    b"\x0a\x00" * 1000,  # field 1 empty, a thousand times
]


def _all_ids(pattern: str, value: str) -> dict[str, str]:
    return {v: value for v in re.findall(r"\{([a-z_]+)\}", pattern) if v != "workspace"}


# ---------------------------------------------------------------------------
# Dumps for failure messages


def _shortened(message: Message, depth: int = 0) -> Message:
    copy = type(message)()
    copy.CopyFrom(message)
    _shorten(copy, depth)
    return copy


def _shorten(message: Message, depth: int) -> None:
    for f, value in list(message.ListFields()):
        if depth > 8:
            message.ClearField(f.name)
            continue
        if is_map(f):
            continue
        if is_repeated(f):
            if len(value) > 3:
                del value[3:]
            if f.message_type is not None:
                for item in value:
                    _shorten(item, depth + 1)
            elif f.type == F.TYPE_STRING:
                for i, item in enumerate(value):
                    value[i] = _short_text(item)
        elif f.message_type is not None:
            _shorten(value, depth + 1)
        elif f.type == F.TYPE_STRING:
            setattr(message, f.name, _short_text(value))
        elif f.type == F.TYPE_BYTES and len(value) > 32:
            setattr(message, f.name, value[:32])


def _short_text(value: str) -> str:
    if len(value) <= 80:
        return value
    return value[:60] + f"…(+{len(value) - 60} chars)"


def dump(request: Message | bytes, descriptor: Descriptor, limit: int = 600) -> str:
    """A short text-format dump (long strings and lists shortened, then truncated)."""
    if isinstance(request, bytes):
        text = f"raw {len(request)} bytes: {request[:48].hex()}{'…' if len(request) > 48 else ''}"
        try:
            decoded = message_class(descriptor).FromString(request)
        except (DecodeError, ValueError, UnicodeDecodeError):
            return text + " (does not decode)"
        return text + " decodes as: " + dump(decoded, descriptor, limit)
    text = text_format.MessageToString(_shortened(request), as_one_line=True, as_utf8=True)
    if len(text) > limit:
        text = text[:limit] + f"…(+{len(text) - limit} chars)"
    return text or "(empty)"

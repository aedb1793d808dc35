from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import DecodeError
from google.protobuf.struct_pb2 import ListValue, Struct, Value
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st
from rapport.errors import InvalidArgument
from rapport.wellknowntypes import (
    DEFAULT_MAX_DEPTH,
    dict_to_struct,
    duration_to_timedelta,
    python_to_value,
    serialized_size,
    struct_to_dict,
    timestamp_to_datetime,
    to_datetime,
    to_dict,
    to_duration,
    to_timedelta,
    to_timestamp,
    value_to_python,
)

INT64 = st.integers(-(2**63), 2**63 - 1)
INT32 = st.integers(-(2**31), 2**31 - 1)


def refused(call, *args, **kwargs) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as raised:
        call(*args, **kwargs)
    return raised.value


# --- Timestamp ---------------------------------------------------------------------------


def test_timestamp_edges_of_the_valid_range() -> None:
    first = Timestamp(seconds=-62_135_596_800)
    last = Timestamp(seconds=253_402_300_799, nanos=999_999_999)
    assert timestamp_to_datetime(first, field_path="t") == datetime(1, 1, 1, tzinfo=UTC)
    assert timestamp_to_datetime(last, field_path="t") == datetime(
        9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC
    )
    assert refused(timestamp_to_datetime, Timestamp(seconds=-62_135_596_801), field_path="a.t")
    err = refused(timestamp_to_datetime, Timestamp(seconds=253_402_300_800), field_path="a.t")
    assert err.field == "a.t"
    for nanos in (-1, 1_000_000_000):
        err = refused(timestamp_to_datetime, Timestamp(seconds=0, nanos=nanos), field_path="x")
        assert err.field == "x" and "nanos" in err.description


def test_to_datetime_reads_a_field_and_none_when_unset() -> None:
    assert to_datetime(Holder(stamp=Timestamp(seconds=1)), "stamp") == datetime(
        1970, 1, 1, 0, 0, 1, tzinfo=UTC
    )
    assert to_datetime(Holder(), "stamp") is None
    assert to_datetime(Holder(stamp=Timestamp()), "stamp") == datetime(1970, 1, 1, tzinfo=UTC)
    bad = Holder(stamp=Timestamp(seconds=-(2**40)))
    assert refused(to_datetime, bad, "stamp", field_path="events[3].sent_at").field == (
        "events[3].sent_at"
    )
    assert refused(to_datetime, bad, "stamp").field == "stamp"


@given(INT64, INT32)
def test_any_timestamp_converts_or_is_invalid_argument(seconds: int, nanos: int) -> None:
    try:
        moment = timestamp_to_datetime(Timestamp(seconds=seconds, nanos=nanos), field_path="t")
    except InvalidArgument as err:
        assert err.field == "t"
        return
    back = to_timestamp(moment)
    assert (back.seconds, back.nanos) == (seconds, nanos // 1000 * 1000)


@given(st.datetimes(timezones=st.just(UTC)) | st.datetimes())
def test_datetimes_round_trip_through_timestamps(moment: datetime) -> None:
    stamp = to_timestamp(moment)
    expected = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    assert timestamp_to_datetime(stamp, field_path="t") == expected
    # Same as protobuf's own (slower) conversion.
    reference = Timestamp()
    reference.FromDatetime(expected)
    assert stamp == reference


def test_to_timestamp_converts_other_zones_to_utc() -> None:
    from zoneinfo import ZoneInfo

    paris = datetime(2030, 6, 1, 12, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert to_timestamp(paris) == to_timestamp(datetime(2030, 6, 1, 10, 0, tzinfo=UTC))


# --- Duration ----------------------------------------------------------------------------


def test_duration_rules() -> None:
    limit = 315_576_000_000
    assert duration_to_timedelta(Duration(seconds=limit, nanos=999_999_999), field_path="d") == (
        timedelta(seconds=limit, microseconds=999_999)
    )
    assert duration_to_timedelta(Duration(seconds=-limit), field_path="d") == timedelta(
        seconds=-limit
    )
    assert duration_to_timedelta(Duration(seconds=-1, nanos=-1500), field_path="d") == -timedelta(
        seconds=1, microseconds=1
    )
    assert duration_to_timedelta(Duration(nanos=-1500), field_path="d") == -timedelta(
        microseconds=1
    )
    for bad in (
        Duration(seconds=limit + 1),
        Duration(seconds=-limit - 1),
        Duration(seconds=1, nanos=-1),
        Duration(seconds=-1, nanos=1),
        Duration(nanos=1_000_000_000),
        Duration(nanos=-1_000_000_000),
    ):
        assert refused(duration_to_timedelta, bad, field_path="rule.window").field == "rule.window"


@given(INT64, INT32)
def test_any_duration_converts_or_is_invalid_argument(seconds: int, nanos: int) -> None:
    try:
        value = duration_to_timedelta(Duration(seconds=seconds, nanos=nanos), field_path="d")
    except InvalidArgument as err:
        assert err.field == "d"
        return
    back = to_duration(value)
    assert back.seconds == seconds
    assert back.nanos == int(nanos / 1000) * 1000  # truncated toward zero


@given(st.timedeltas(min_value=timedelta(days=-3_000_000), max_value=timedelta(days=3_000_000)))
def test_timedeltas_round_trip_and_match_protobuf(value: timedelta) -> None:
    duration = to_duration(value)
    reference = Duration()
    reference.FromTimedelta(value)
    assert duration == reference
    assert duration_to_timedelta(duration, field_path="d") == value


def test_to_duration_refuses_what_protobuf_cannot_hold() -> None:
    with pytest.raises(ValueError):
        to_duration(timedelta(days=3_700_000))


def test_to_timedelta_and_to_dict_none_when_unset() -> None:
    assert to_timedelta(Holder(), "window") is None
    assert to_timedelta(Holder(window=Duration(seconds=90)), "window") == timedelta(seconds=90)
    assert refused(to_timedelta, Holder(window=Duration(seconds=1, nanos=-1)), "window").field == (
        "window"
    )
    assert to_dict(Holder(), "properties") is None
    assert to_dict(Holder(properties=Struct()), "properties") == {}
    holder = Holder(properties=dict_to_struct({"price": 2.0}))
    assert to_dict(holder, "properties", whole_numbers_as_ints=True) == {"price": 2}
    holder.properties["price"] = math.nan
    assert refused(to_dict, holder, "properties", field_path="events[3].properties").field == (
        "events[3].properties.price"
    )


# --- Struct / Value ----------------------------------------------------------------------


def test_struct_to_dict_names_the_offending_path() -> None:
    struct = json_format.ParseDict({"price": 1.5, "items": [1, {"n": 2}]}, Struct())
    assert struct_to_dict(struct, field_path="events[3].properties") == {
        "price": 1.5,
        "items": [1.0, {"n": 2.0}],
    }
    assert struct_to_dict(struct, field_path="p", whole_numbers_as_ints=True)["items"] == [
        1,
        {"n": 2},
    ]
    struct["price"] = math.nan
    err = refused(struct_to_dict, struct, field_path="events[3].properties")
    assert err.field == "events[3].properties.price"

    context = Struct()
    context["items"] = [1, 2, 3]
    context["items"].values[2].number_value = math.inf
    assert refused(struct_to_dict, context, field_path="context").field == "context.items[2]"
    context["items"].values[2].number_value = -math.inf
    assert refused(struct_to_dict, context, field_path="context").field == "context.items[2]"

    odd = Struct()
    odd["a.b `c`"] = math.nan
    assert refused(struct_to_dict, odd, field_path="p").field == "p.`a.b ``c```"
    long = Struct()
    long["k" * 10_000] = math.nan  # the path goes into trailers: clipped
    assert refused(struct_to_dict, long, field_path="p").field == "p.`" + "k" * 64 + "...`"


def test_a_value_without_a_kind_is_refused() -> None:
    struct = Struct()
    struct.fields["empty"].Clear()  # the entry exists, with no kind set
    assert "empty" in struct.fields
    assert refused(struct_to_dict, struct, field_path="traits").field == "traits.empty"
    assert refused(value_to_python, Value(), field_path="v").field == "v"


def nested_dict(levels: int) -> dict:
    data: dict = {"leaf": 1}
    for _ in range(levels - 1):
        data = {"x": data}
    return data


def test_nesting_depth_is_limited() -> None:
    ok = dict_to_struct(nested_dict(DEFAULT_MAX_DEPTH))
    assert struct_to_dict(ok, field_path="p")
    deep = Struct()
    deep.update(nested_dict(DEFAULT_MAX_DEPTH + 1))
    err = refused(struct_to_dict, deep, field_path="p")
    assert err.field == "p" + ".x" * DEFAULT_MAX_DEPTH
    assert refused(dict_to_struct, nested_dict(DEFAULT_MAX_DEPTH + 1)).field.count("x") == 32
    assert struct_to_dict(deep, field_path="p", max_depth=40)
    # Lists count too.
    listed = python_to_value([[[1]]])
    assert value_to_python(listed, field_path="v", max_depth=3) == [[[1.0]]]
    assert refused(value_to_python, listed, field_path="v", max_depth=2).field == "v[0][0]"
    with pytest.raises(ValueError):
        struct_to_dict(ok, field_path="p", max_depth=0)


def test_a_python_cycle_is_refused_by_depth() -> None:
    data: dict = {}
    data["self"] = data
    assert refused(dict_to_struct, data, field_path="d").field.startswith("d.self.self")


def test_dict_to_struct_refuses_what_json_cannot_hold() -> None:
    assert refused(dict_to_struct, {"a": [1, math.nan]}, field_path="ctx").field == "ctx.a[1]"
    assert refused(dict_to_struct, {"a": {1: 2}}, field_path="ctx").field == "ctx.a"
    assert refused(dict_to_struct, {"when": datetime.now(UTC)}).field == "when"
    assert refused(dict_to_struct, {"big": 10**400}).field == "big"
    empty = dict_to_struct({"l": [], "d": {}, "n": None, "b": True, "i": 3})
    assert json_format.MessageToDict(empty) == {"l": [], "d": {}, "n": None, "b": True, "i": 3}
    assert empty.fields["b"].WhichOneof("kind") == "bool_value"


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(2**53), 2**53)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=30,
)
ANYTHING = st.recursive(
    st.none()
    | st.booleans()
    | st.floats()
    | st.integers()
    | st.text(max_size=5)
    | st.binary(max_size=3)
    | st.datetimes(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner)
        | st.dictionaries(st.text(max_size=4) | st.integers(), inner, max_size=3)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=6), JSON, max_size=5))
def test_json_like_dicts_round_trip(data: dict) -> None:
    struct = dict_to_struct(data, field_path="p")
    assert struct_to_dict(struct, field_path="p") == data  # ints compare equal to floats
    assert struct_to_dict(struct, field_path="p", whole_numbers_as_ints=True) == data


@given(ANYTHING)
def test_any_python_value_converts_or_is_invalid_argument(data: object) -> None:
    try:
        value = python_to_value(data, field_path="v")
    except InvalidArgument as err:
        assert err.field.startswith("v")
        return
    value_to_python(value, field_path="v")


@given(st.binary(max_size=200))
def test_any_parsed_struct_converts_or_is_invalid_argument(raw: bytes) -> None:
    struct = Struct()
    try:
        struct.ParseFromString(raw)
    except DecodeError:
        return  # refused by protobuf itself, before any conversion
    try:
        struct_to_dict(struct, field_path="p", max_depth=3)
    except InvalidArgument as err:
        assert err.field.startswith("p")


@given(st.binary(max_size=200))
def test_any_parsed_list_value_converts_or_is_invalid_argument(raw: bytes) -> None:
    value = Value()
    try:
        value.list_value.ParseFromString(raw)
    except DecodeError:
        return
    assert isinstance(value.list_value, ListValue)
    try:
        value_to_python(value, field_path="v", whole_numbers_as_ints=True)
    except InvalidArgument as err:
        assert err.field.startswith("v")


# --- sizes -------------------------------------------------------------------------------


def test_serialized_size_measures_and_limits() -> None:
    struct = dict_to_struct({"name": "x" * 100})
    size = serialized_size(struct)
    assert size == len(struct.SerializeToString()) and size > 100
    assert serialized_size(struct, max_bytes=size) == size
    err = refused(serialized_size, struct, max_bytes=size - 1, field_path="events[0].properties")
    assert err.field == "events[0].properties" and str(size) in err.description


# --- helpers -----------------------------------------------------------------------------


def _holder_class() -> type:
    """A real message with optional Timestamp, Duration and Struct fields."""
    file = descriptor_pb2.FileDescriptorProto(
        name="rapport_tests/wellknowntypes_holder.proto",
        package="rapport_tests",
        syntax="proto3",
        dependency=[
            "google/protobuf/timestamp.proto",
            "google/protobuf/duration.proto",
            "google/protobuf/struct.proto",
        ],
    )
    message = file.message_type.add(name="Holder")
    for number, (name, type_name) in enumerate(
        [("stamp", "Timestamp"), ("window", "Duration"), ("properties", "Struct")], start=1
    ):
        message.field.add(
            name=name,
            number=number,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
            type_name=f".google.protobuf.{type_name}",
            label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        )
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(file.name)
    except KeyError:
        pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("rapport_tests.Holder"))


Holder = _holder_class()


@given(st.binary(max_size=300), st.booleans())
def test_the_fast_conversion_agrees_with_the_checked_one(raw: bytes, ints: bool) -> None:
    # struct_to_dict converts without building paths and falls back to the checked
    # conversion (which names the path) only on what it refuses: same answers.
    from rapport.wellknowntypes import _from_struct

    struct = Struct()
    try:
        struct.ParseFromString(raw)
    except DecodeError:
        return
    outcomes = []
    for convert in (
        lambda: struct_to_dict(struct, field_path="p", max_depth=3, whole_numbers_as_ints=ints),
        lambda: _from_struct(struct, "p", 1, 3, ints),
    ):
        try:
            outcomes.append(("ok", convert()))
        except InvalidArgument as err:
            outcomes.append(("refused", err.field, err.description))
    assert outcomes[0] == outcomes[1]

"""named_workspaces: which workspaces a request names, at any depth."""

from __future__ import annotations

import time
from collections.abc import Callable

from google.protobuf import any_pb2, struct_pb2, wrappers_pb2
from rapport.grpcserver import named_workspaces
from rapport.grpcserver._workspaces import _plan

from ._typed import Batch, Numbers, Ref, Req


def test_top_level_and_repeated_strings() -> None:
    request = Req(parent="workspaces/a", names=["workspaces/b/customers/1", "workspaces/c"])
    assert named_workspaces(request) == {"a", "b", "c"}


def test_only_the_prefix_at_the_start_counts() -> None:
    request = Req(
        parent="workspaces",  # no id
        names=["customers/workspaces/x", "Workspaces/y", " workspaces/z", "workspacesx/q"],
    )
    assert named_workspaces(request) == set()
    # An empty id is still a name: "workspaces//..." is denied unless the token has "*".
    assert named_workspaces(Req(parent="workspaces//customers/1")) == {""}


def test_oneof_string_and_oneof_message() -> None:
    assert named_workspaces(Req(customer="workspaces/a/customers/1")) == {"a"}
    assert named_workspaces(Req(ref=Ref(name="workspaces/b/things/x"))) == {"b"}


def test_nested_repeated_messages_and_recursion() -> None:
    request = Req(
        nested=Ref(name="workspaces/a"),
        refs=[Ref(name="workspaces/b"), Ref(name="plain")],
        child=Req(child=Req(refs=[Ref(name="workspaces/deep/x")])),
    )
    assert named_workspaces(request) == {"a", "b", "deep"}
    batch = Batch(parent="workspaces/p", requests=[Req(customer="workspaces/q/customers/1")])
    assert named_workspaces(batch) == {"p", "q"}


def test_map_values_but_not_keys() -> None:
    request = Req()
    request.labels["workspaces/key-only"] = "workspaces/label"
    request.ref_map["workspaces/key-too"].name = "workspaces/mapped/x"
    assert named_workspaces(request) == {"label", "mapped"}


def test_free_form_data_is_not_looked_into() -> None:
    request = Req()
    request.data.update({"parent": "workspaces/s", "nested": {"n": "workspaces/s2"}})
    request.value.string_value = "workspaces/v"
    request.list.values.add().string_value = "workspaces/l"
    request.extra.Pack(Ref(name="workspaces/any"))
    assert named_workspaces(request) == set()
    assert (
        named_workspaces(
            struct_pb2.Struct(fields={"x": struct_pb2.Value(string_value="workspaces/t")})
        )
        == set()
    )
    assert named_workspaces(any_pb2.Any(type_url="workspaces/u")) == set()


def test_not_a_message() -> None:
    assert named_workspaces(b"workspaces/a") == set()
    assert named_workspaces("workspaces/a") == set()
    assert named_workspaces(None) == set()


def test_plan_skips_fields_that_cannot_hold_strings() -> None:
    plan = dict(_plan(Req.DESCRIPTOR))
    # Numbers only, free-form data and scalars are left out of the walk; the
    # Numbers map has string keys but int values, so it is left out too.
    assert set(plan) == {
        "parent", "names", "customer", "ref", "nested", "refs", "labels", "ref_map", "child",
    }  # fmt: skip
    assert _plan(Numbers.DESCRIPTOR) == ()
    assert _plan(wrappers_pb2.Int64Value.DESCRIPTOR) == ()
    assert _plan(Req.DESCRIPTOR) is _plan(Req.DESCRIPTOR)  # cached


def test_cost_on_a_thousand_element_request() -> None:
    batch = Batch(
        parent="workspaces/default",
        requests=[
            Req(
                customer=f"workspaces/default/customers/{i}",
                names=["workspaces/default/x", "y"],
                nested=Ref(name="n"),
                count=i,
            )
            for i in range(1000)
        ],
    )
    named_workspaces(batch)  # plans built once, outside the measurement
    per_call_ms = _best_ms(lambda: named_workspaces(batch) == {"default"})
    numbers = Req(numbers=Numbers(a=1, b=[1.0] * 1000), count=3)
    no_strings_ms = _best_ms(lambda: named_workspaces(numbers) == set())
    print(
        f"named_workspaces: 1000-element batch {per_call_ms:.2f} ms;"
        f" message without strings {no_strings_ms:.4f} ms"
    )
    # Generous bounds: catch an accidental blow-up, not machine noise.
    assert per_call_ms < 100
    assert no_strings_ms < 1


def _best_ms(check: Callable[[], bool], rounds: int = 15) -> float:
    # The fastest round: the least disturbed by other load on the machine.
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        assert check()
        best = min(best, time.perf_counter() - started)
    return best * 1000

"""Fixtures of the identity service tests: an in-process server and its core scenario."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import grpc
import pytest
from rapport.grpcserver import RunningServer
from rapport.grpctesting import serve_in_process
from rapport.identity.bootstrap import build
from rapport.identity.settings import IdentitySettings
from rapport.identity.v1 import identity_service_pb2 as pb
from rapport.identity.v1 import identity_service_pb2_grpc as pb_grpc

from ._identity_support import PARENT, RpcFailure, Stub, ident
from ._identity_support import fails as _fails


@pytest.fixture
def identity_settings(tmp_path: Path) -> IdentitySettings:
    return IdentitySettings(data_dir=tmp_path, workspaces=["default", "other"])


@pytest.fixture
async def identity_server(identity_settings: IdentitySettings) -> AsyncIterator[RunningServer]:
    async with serve_in_process(build, identity_settings) as server:
        yield server


@pytest.fixture
async def stub(identity_server: RunningServer) -> AsyncIterator[Stub]:
    async with grpc.aio.insecure_channel(identity_server.address) as channel:
        yield pb_grpc.IdentityServiceStub(channel)


async def _core_scenario(stub: Stub) -> None:
    """Create, link, create another, merge, then read through every RPC."""
    first = await stub.Resolve(
        pb.ResolveRequest(
            parent=PARENT,
            identifiers=[ident("user_id", "u1"), ident("email", " Ann@Example.COM ")],
            source="test",
        )
    )
    assert first.created
    assert {(i.type, i.value) for i in first.customer.identifiers} == {
        ("user_id", "u1"),
        ("email", "ann@example.com"),
    }

    linked = await stub.Resolve(
        pb.ResolveRequest(
            parent=PARENT,
            identifiers=[ident("email", "ann@example.com"), ident("phone", "(650) 253-0000")],
        )
    )
    assert not linked.created
    assert linked.customer.name == first.customer.name
    assert len(linked.customer.identifiers) == 3
    assert linked.customer.update_time.ToDatetime() >= first.customer.update_time.ToDatetime()

    second = await stub.Resolve(
        pb.ResolveRequest(parent=PARENT, identifiers=[ident("device_id", "d1")])
    )
    assert second.created and second.customer.name != first.customer.name

    merged = await stub.Resolve(
        pb.ResolveRequest(
            parent=PARENT,
            identifiers=[ident("device_id", "d1"), ident("phone", "+1 650 253 0000")],
            source="crm-import",
        )
    )
    assert merged.customer.name == first.customer.name  # the oldest survives
    assert list(merged.merged_customers) == [second.customer.name]
    assert list(merged.customer.merged_customers) == [second.customer.name]
    assert len(merged.customer.identifiers) == 4

    via_merged = await stub.GetCustomer(pb.GetCustomerRequest(name=second.customer.name))
    assert via_merged.name == first.customer.name

    looked_up = await stub.LookupCustomer(
        pb.LookupCustomerRequest(parent=PARENT, identifier=ident("phone", "650-253-0000"))
    )
    assert looked_up.name == first.customer.name

    listed = await stub.ListCustomers(pb.ListCustomersRequest(parent=PARENT))
    assert [c.name for c in listed.customers] == [first.customer.name]
    assert listed.next_page_token == ""


@pytest.fixture
def core_scenario() -> Callable[[Stub], Awaitable[None]]:
    return _core_scenario


@pytest.fixture
def fails() -> Callable[[Awaitable[object], grpc.StatusCode], Awaitable[RpcFailure]]:
    """``await fails(stub.X(...), grpc.StatusCode.NOT_FOUND)`` -> RpcFailure."""
    return _fails


# --- people with attributes and known duplicates (deduplication tests) ------------------

_GIVEN = (
    "james mary robert patricia john jennifer michael linda david elizabeth william barbara "
    "richard susan joseph jessica thomas sarah charles karen christopher lisa daniel nancy "
    "matthew betty anthony margaret mark sandra donald ashley steven kimberly paul emily"
).split()
_FAMILY = (
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez "
    "gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson white harris "
    "sanchez clark ramirez lewis robinson walker young allen king wright scott torres nguyen hill "
    "flores green adams nelson baker hall rivera campbell mitchell carter roberts gomez phillips "
    "evans turner diaz parker cruz edwards collins reyes stewart morris morales murphy cook"
).split()
_STREETS = (
    "main st|oak ave|pine rd|maple dr|cedar ln|elm st|lake view rd|park ave|river rd|mill rd|"
    "high st|church st|school ln|north ave|forest dr|spring st|sunset blvd|hill crest dr"
).split("|")
_LOCALITIES = (
    "springfield riverside franklin greenville madison salem clinton fairview georgetown "
    "bristol dover ashland oxford milton newport jackson auburn dayton lexington"
).split()
_REGIONS = "il ca tn sc wi or ia tx ct de".split()


def _places(rng: random.Random, count: int = 40) -> list[tuple[str, str, str]]:
    return [
        (rng.choice(_LOCALITIES), f"{rng.randint(10000, 99999)}", rng.choice(_REGIONS))
        for _ in range(count)
    ]


def _person(rng: random.Random, places: list[tuple[str, str, str]]) -> dict[str, str]:
    locality, postal_code, region = rng.choice(places)
    return {
        "given_name": rng.choice(_GIVEN).title(),
        "family_name": rng.choice(_FAMILY).title(),
        "birth_date": date(
            rng.randint(1940, 2004), rng.randint(1, 12), rng.randint(1, 28)
        ).isoformat(),
        "street_number": str(rng.randint(1, 400)),
        "address_line1": rng.choice(_STREETS),
        "locality": locality,
        "postal_code": postal_code,
        "region": region,
    }


@dataclass
class People:
    """Customers seeded with attributes: ``names[i]`` has ``attributes[i]``."""

    names: list[str]
    attributes: list[dict[str, str]]
    # Label -> (index of the original, index of its duplicate).
    clear_duplicates: dict[str, tuple[int, int]]
    borderline: dict[str, tuple[int, int]]
    without_attributes: str  # a customer with no attributes


_DUPLICATE_KINDS = ("exact", "typo", "swapped_day_month", "missing_address", "lower_case")


def _duplicate(kind: str, person: dict[str, str]) -> dict[str, str]:
    if kind == "typo":  # two letters of the family name swapped
        name = person["family_name"]
        return {**person, "family_name": name[:2] + name[3] + name[2] + name[4:]}
    if kind == "swapped_day_month":
        year, month, day = person["birth_date"].split("-")
        return {**person, "birth_date": f"{year}-{day}-{month}"}
    if kind == "missing_address":
        return {**person, "street_number": "", "address_line1": ""}
    if kind == "lower_case":
        return {key: value.lower() for key, value in person.items()}
    return dict(person)


def people_attributes(count: int = 176, seed: int = 7) -> People:
    """``count`` random people, then known duplicates of some of them under other emails."""
    rng = random.Random(seed)
    places = _places(rng)
    people = [_person(rng, places) for _ in range(count)]
    clear: dict[str, tuple[int, int]] = {}
    borderline: dict[str, tuple[int, int]] = {}
    attributes = list(people)
    for index in range(20):
        kind = _DUPLICATE_KINDS[index % len(_DUPLICATE_KINDS)]
        if kind == "swapped_day_month":  # a day that can be a month
            people[index]["birth_date"] = people[index]["birth_date"][:8] + "0" + str(index % 9 + 1)
        clear[f"{kind}_{index}"] = (index, len(attributes))
        attributes.append(_duplicate(kind, people[index]))
    # Same names and postal code, nothing else known: likely, not certain.
    for index in (30, 31, 32):
        borderline[f"names_and_postal_code_{index}"] = (index, len(attributes))
        attributes.append(
            {key: people[index][key] for key in ("given_name", "family_name", "postal_code")}
        )
    return People(
        names=[],
        attributes=attributes,
        clear_duplicates=clear,
        borderline=borderline,
        without_attributes="",
    )


async def _seed_people(stub: Stub, parent: str = PARENT) -> People:
    people = people_attributes()
    attributes = people.attributes
    response = await stub.BatchResolve(
        pb.BatchResolveRequest(
            parent=parent,
            requests=[
                pb.ResolveRequest(
                    identifiers=[ident("email", f"person{index}@example.org")],
                    source="test",
                    attributes=pb.PersonAttributes(**person),
                )
                for index, person in enumerate(attributes)
            ]
            + [pb.ResolveRequest(identifiers=[ident("email", "nobody-known@example.org")])],
        )
    )
    names = [item.customer.name for item in response.responses]
    assert all(item.created for item in response.responses)
    people.names = names[:-1]
    people.without_attributes = names[-1]
    return people


@pytest.fixture
def seed_people() -> Callable[..., Awaitable[People]]:
    """``await seed_people(stub)``: ~200 customers with attributes and known duplicates."""
    return _seed_people

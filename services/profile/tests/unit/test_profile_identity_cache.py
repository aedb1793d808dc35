"""The in-process cache of identity's settled answers (service_layer.identity_cache)."""

from __future__ import annotations

from rapport.profile.service_layer.identity_cache import IdentityCache

KEY = (("user_id", "u-1"), ("anonymous_id", "a-1"))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_answers_are_kept_only_while_the_follower_follows() -> None:
    cache = IdentityCache()
    cache.put_many("default", cache.generation("default"), [(KEY, "c1")])
    assert cache.get("default", KEY) is None  # not following: nothing kept
    cache.attach("default")
    cache.put_many("default", cache.generation("default"), [(KEY, "c1")])
    assert cache.get("default", KEY) == "c1"
    assert cache.get("other", KEY) is None
    cache.detach("default")
    assert cache.get("default", KEY) is None
    cache.attach("default")
    assert cache.get("default", KEY) is None  # a stream that ended forgot everything


def test_a_change_empties_the_workspace_and_older_answers_are_not_stored() -> None:
    cache = IdentityCache()
    cache.attach("default")
    cache.attach("other")
    cache.put_many("other", cache.generation("other"), [(KEY, "o1")])
    asked_at = cache.generation("default")
    cache.put_many("default", asked_at, [(KEY, "c1")])
    cache.invalidate("default")
    assert cache.get("default", KEY) is None
    assert cache.get("other", KEY) == "o1"
    # An answer identity gave before the change arrives after it: not kept.
    cache.put_many("default", asked_at, [(KEY, "c1")])
    assert cache.get("default", KEY) is None


def test_entries_expire_and_the_size_is_bounded() -> None:
    clock = Clock()
    cache = IdentityCache(max_entries=2, ttl_seconds=10, clock=clock)
    cache.attach("default")
    generation = cache.generation("default")
    cache.put_many("default", generation, [(("a",), "c1"), (("b",), "c2")])
    clock.now = 5
    assert cache.get("default", ("a",)) == "c1"
    cache.put_many("default", generation, [(("c",), "c3")])
    assert cache.get("default", ("a",)) is None  # full: started again
    assert cache.get("default", ("c",)) == "c3"
    clock.now = 16
    assert cache.get("default", ("c",)) is None

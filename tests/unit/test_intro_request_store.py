"""The store of introduction requests: newest first, states, duplicates within a window."""

from __future__ import annotations

import pytest

from matcher.errors import InvalidInput, NotFound
from matcher.records import Kind
from matcher.storage.catalogue import Catalogue
from service.intro_requests import IntroRequests


@pytest.fixture
def store(tmp_path) -> IntroRequests:
    Catalogue(tmp_path / "catalogue.sqlite").migrate()
    return IntroRequests(tmp_path / "catalogue.sqlite")


def test_requests_list_newest_first_and_change_state_with_their_handler(store):
    first = store.create(Kind.PROJECTS, "P1", "Wang Fang", "wang@example.cn", client="ip:10.0.0.1")
    second = store.create(Kind.NEEDS, "N1", "Li Wei", "13912345678", organisation="CAU", language="zh")
    assert [item.id for item in store.list()] == [second.id, first.id]
    assert store.counts() == {"new": 2, "handled": 0, "spam": 0}
    handled = store.mark(first.id, "handled", "web:Zhao Lei")
    assert (handled.state, handled.handled_by) == ("handled", "web:Zhao Lei") and handled.handled_at
    assert [item.id for item in store.list("handled")] == [first.id]
    assert store.counts() == {"new": 1, "handled": 1, "spam": 0}
    with pytest.raises(InvalidInput):
        store.mark(first.id, "lost", "web:Zhao Lei")
    with pytest.raises(NotFound):
        store.mark(999, "spam", "web:Zhao Lei")


def test_a_repeat_within_the_window_is_a_duplicate_unless_the_first_was_spam(store):
    first = store.create(Kind.PROJECTS, "P1", "Wang Fang", "wang@example.cn", duplicate_minutes=60)
    with pytest.raises(InvalidInput) as caught:
        store.create(Kind.PROJECTS, "P1", "Wang F.", "WANG@example.cn", duplicate_minutes=60)
    assert caught.value.details == {"parameter": "contact", "duplicate": True, "request": first.id}
    again = store.create(Kind.PROJECTS, "P1", "Wang Fang", "wang@example.cn", duplicate_minutes=0)  # no window
    store.create(Kind.PROJECTS, "P2", "Wang Fang", "wang@example.cn", duplicate_minutes=60)  # another record
    for request in (first, again):
        store.mark(request.id, "spam", "web:Zhao Lei")
    store.create(Kind.PROJECTS, "P1", "Wang Fang", "wang@example.cn", duplicate_minutes=60)  # spam does not count
    assert len(store.list()) == 4

"""Filters: validated once into a value, turned into SQL by the catalogue."""

from __future__ import annotations

from collections import Counter

import pytest

from matcher.errors import InvalidInput
from matcher.filters import Filters
from matcher.records import Kind, Record
from matcher.storage.catalogue import Catalogue


def test_parse_keeps_valid_filters_in_name_order_and_lowercases_text():
    filters = Filters.parse(Kind.PROJECTS, {"trl_min": 4, "field": [" Automotive ", "Optics"], "institution": None})
    assert [condition.name for condition in filters.conditions] == ["field", "trl_min"]
    assert filters.conditions[0].values == ("automotive", "optics")
    assert filters.conditions[1].bound == 4
    assert not Filters.parse(Kind.NEEDS, {}) and not Filters.parse(Kind.NEEDS, None)


@pytest.mark.parametrize(
    ("raw", "parameter"),
    [
        ({"colour": "red"}, "filters"),
        ({"field": 3}, "filters.field"),
        ({"field": ["optics", None]}, "filters.field"),
        ({"trl_min": "4"}, "filters.trl_min"),
    ],
)
def test_parse_names_the_bad_filter(raw, parameter):
    with pytest.raises(InvalidInput) as caught:
        Filters.parse(Kind.PROJECTS, raw)
    assert caught.value.details["parameter"] == parameter


def test_a_blank_filter_value_filters_nothing_as_an_empty_form_field():
    assert not Filters.parse(Kind.PROJECTS, {"field": "", "institution": ["  "]})
    (condition,) = Filters.parse(Kind.PROJECTS, {"field": ["", "Optics"]}).conditions
    assert condition.values == ("optics",)


@pytest.fixture
def catalogue(tmp_path) -> Catalogue:
    catalogue = Catalogue(tmp_path / "catalogue.sqlite")
    catalogue.migrate()
    records = [
        Record(
            Kind.PROJECTS,
            "P1",
            "Laser welding",
            "Seams.",
            {"fields": ["automotive"], "trl": 6, "updated": "2025-03-01"},
        ),
        Record(Kind.PROJECTS, "P2", "Lenses", "Optics.", {"fields": ["optics"], "trl": 3, "updated": "2024-01-01"}),
        Record(Kind.PROJECTS, "P3", "Batteries", "Cells.", {"fields": ["automotive", "energy"], "trl": 4}),
    ]
    catalogue.apply(Kind.PROJECTS, records, [], Counter())
    return catalogue


def test_keys_matching_applies_filters_exclusions_and_dates(catalogue):
    key = {stored.record.id: stored.key for stored in catalogue.records(Kind.PROJECTS)}
    automotive = Filters.parse(Kind.PROJECTS, {"field": "Automotive"})
    assert catalogue.keys_matching(Kind.PROJECTS, Filters.parse(Kind.PROJECTS, {})) is None
    assert catalogue.keys_matching(Kind.PROJECTS, automotive) == {key["P1"], key["P3"]}
    assert catalogue.keys_matching(Kind.PROJECTS, automotive, excluded_ids={"P1", "P9"}) == {key["P3"]}
    assert catalogue.keys_matching(Kind.PROJECTS, Filters.parse(Kind.PROJECTS, {}), excluded_ids={"P2"}) == {
        key["P1"],
        key["P3"],
    }
    trl = Filters.parse(Kind.PROJECTS, {"trl_min": 4, "trl_max": 5})
    assert catalogue.keys_matching(Kind.PROJECTS, trl) == {key["P3"]}
    empty_range = Filters.parse(Kind.PROJECTS, {"trl_min": 7, "trl_max": 3})
    assert catalogue.keys_matching(Kind.PROJECTS, empty_range) == set()
    # P3 has no `updated` of its own, so the catalogue's change date (today) counts.
    assert catalogue.keys_matching(Kind.PROJECTS, Filters.parse(Kind.PROJECTS, {}), updated_since="2025-01-01") == {
        key["P1"],
        key["P3"],
    }

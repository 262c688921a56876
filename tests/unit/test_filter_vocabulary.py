"""A filter's vocabulary: the values its field takes in the catalogue, with counts (the page's drop-downs)."""

from __future__ import annotations

from collections import Counter

import pytest

from matcher.errors import InvalidInput
from matcher.filters import Filters, query_filter_value
from matcher.records import Kind, Record
from matcher.storage.catalogue import Catalogue


def _catalogue(tmp_path) -> Catalogue:
    catalogue = Catalogue(tmp_path / "catalogue.sqlite")
    catalogue.migrate()
    projects = [
        Record(Kind.PROJECTS, "P1", "Welding", "Seams.", {"fields": ["automotive"], "trl": 6, "ip_status": "licensed"}),
        Record(
            Kind.PROJECTS, "P2", "Lenses", "Optics.", {"fields": ["optics", "automotive"], "institution": "长白大学"}
        ),
        Record(Kind.PROJECTS, "P3", "Cells", "Cells.", {"fields": ["energy"], "trl": 6, "institution": "  "}),
    ]
    needs = [
        Record(
            Kind.NEEDS, "N1", "Trays", "Trays.", {"industry": "automotive", "region": "长白", "deadline": "2026-12-31"}
        ),
        Record(
            Kind.NEEDS, "N2", "Pores", "Pores.", {"industry": "automotive", "region": "Jilin", "deadline": "2026-06-30"}
        ),
        Record(Kind.NEEDS, "N3", "Ice", "Ice.", {"industry": "energy"}),
    ]
    catalogue.apply(Kind.PROJECTS, projects, [], Counter())
    catalogue.apply(Kind.NEEDS, needs, [], Counter())
    return catalogue


def test_values_of_counts_records_most_common_first(tmp_path):
    catalogue = _catalogue(tmp_path)
    assert catalogue.values_of(Kind.PROJECTS, "fields") == [("automotive", 2), ("energy", 1), ("optics", 1)]
    assert catalogue.values_of(Kind.PROJECTS, "trl") == [("6", 2)]
    assert catalogue.values_of(Kind.PROJECTS, "institution") == [("长白大学", 1)]  # a blank value is none
    assert catalogue.values_of(Kind.NEEDS, "fields") == []


def test_vocabularies_name_each_text_filter_once(tmp_path):
    catalogue = _catalogue(tmp_path)
    projects = catalogue.vocabularies(Kind.PROJECTS)
    assert set(projects) == {"field", "institution", "language", "ip_status"}
    assert projects["ip_status"] == [("licensed", 1)]
    needs = catalogue.vocabularies(Kind.NEEDS)
    assert set(needs) == {"industry", "region", "enterprise", "language"}
    assert needs["region"] == [("Jilin", 1), ("长白", 1)]
    assert needs["industry"] == [("automotive", 2), ("energy", 1)]


def test_the_ip_status_filter_narrows_projects(tmp_path):
    catalogue = _catalogue(tmp_path)
    keys = catalogue.keys_matching(Kind.PROJECTS, Filters.parse(Kind.PROJECTS, {"ip_status": "Licensed"}))
    assert keys == {catalogue.keys_of(Kind.PROJECTS, ["P1"])["P1"]}


def test_the_deadline_filter_keeps_needs_open_on_or_after_a_date(tmp_path):
    catalogue = _catalogue(tmp_path)
    keys = catalogue.keys_of(Kind.NEEDS, ["N1", "N2", "N3"])
    open_on = Filters.parse(Kind.NEEDS, {"deadline_from": "2026-07-01"})
    assert catalogue.keys_matching(Kind.NEEDS, open_on) == {keys["N1"]}  # a need with no deadline is left out
    assert catalogue.keys_matching(Kind.NEEDS, Filters.parse(Kind.NEEDS, {"deadline_from": "2026-06-30"})) == {
        keys["N1"],
        keys["N2"],
    }


@pytest.mark.parametrize("raw", ["2026-02-30", "31/12/2026", 20261231, "2026-1-1"])
def test_a_deadline_filter_that_is_not_a_date_names_itself(raw):
    with pytest.raises(InvalidInput) as caught:
        Filters.parse(Kind.NEEDS, {"deadline_from": raw})
    assert caught.value.details["parameter"] == "filters.deadline_from"
    assert query_filter_value("deadline_from", ["2026-01-01", "2026-02-01"]) == "2026-02-01"

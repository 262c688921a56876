"""A filter's vocabulary: the values its field takes in the catalogue, with counts (the page's drop-downs)."""

from __future__ import annotations

from collections import Counter

from matcher.filters import Filters
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
        Record(Kind.NEEDS, "N1", "Trays", "Trays.", {"industry": "automotive", "region": "长白"}),
        Record(Kind.NEEDS, "N2", "Pores", "Pores.", {"industry": "automotive", "region": "Jilin"}),
    ]
    catalogue.apply(Kind.PROJECTS, projects, [], Counter())
    catalogue.apply(Kind.NEEDS, needs, [], Counter())
    return catalogue


def test_field_values_counts_records_most_common_first(tmp_path):
    catalogue = _catalogue(tmp_path)
    assert catalogue.field_values(Kind.PROJECTS, "fields") == [("automotive", 2), ("energy", 1), ("optics", 1)]
    assert catalogue.field_values(Kind.PROJECTS, "trl") == [("6", 2)]
    assert catalogue.field_values(Kind.PROJECTS, "institution") == [("长白大学", 1)]  # a blank value is none
    assert catalogue.field_values(Kind.NEEDS, "fields") == []


def test_vocabularies_name_each_text_filter_once(tmp_path):
    catalogue = _catalogue(tmp_path)
    projects = catalogue.vocabularies(Kind.PROJECTS)
    assert set(projects) == {"field", "institution", "language", "ip_status"}
    assert projects["ip_status"] == [("licensed", 1)]
    needs = catalogue.vocabularies(Kind.NEEDS)
    assert set(needs) == {"industry", "region", "enterprise", "language"}
    assert needs["region"] == [("Jilin", 1), ("长白", 1)]


def test_the_ip_status_filter_narrows_projects(tmp_path):
    catalogue = _catalogue(tmp_path)
    keys = catalogue.keys_matching(Kind.PROJECTS, Filters.parse(Kind.PROJECTS, {"ip_status": "Licensed"}))
    assert keys == {catalogue.keys_of(Kind.PROJECTS, ["P1"])["P1"]}

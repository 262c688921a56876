"""Filters on the side being searched: the vocabulary, and validation into a :class:`Filters` value.

:data:`FILTERS` is the one list of filters; the service derives its request models, query-string
parsing and OpenAPI parameters from it (:func:`takes_integer`, :func:`query_filter_value`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from matcher.errors import InvalidInput
from matcher.records import TRL_RANGE, Kind


class FilterType(str, Enum):
    ANY_OF = "any_of"  # the field's value is one of the given values (case-insensitive)
    LIST_ANY_OF = "list_any_of"  # the field is a list sharing at least one given value
    MIN = "min"
    MAX = "max"
    ON_OR_AFTER = "on_or_after"  # the field is a date (YYYY-MM-DD) on or after the given one


@dataclass(frozen=True)
class FilterSpec:
    field: str
    type: FilterType

    @property
    def takes_integer(self) -> bool:
        """A bound (``min``, ``max``) takes a whole number in :data:`INTEGER_RANGE`; the others take text."""
        return self.type in (FilterType.MIN, FilterType.MAX)

    @property
    def takes_date(self) -> bool:
        """An ``on_or_after`` filter takes one calendar date, YYYY-MM-DD."""
        return self.type is FilterType.ON_OR_AFTER

    @property
    def takes_values(self) -> bool:
        """A filter of values (``any_of``, ``list_any_of``): the field's vocabulary lists what it may take."""
        return self.type in (FilterType.ANY_OF, FilterType.LIST_ANY_OF)


# Fields and industries share one vocabulary, so either name filters either side.
FILTERS: dict[Kind, dict[str, FilterSpec]] = {
    Kind.PROJECTS: {
        "field": FilterSpec("fields", FilterType.LIST_ANY_OF),
        "industry": FilterSpec("fields", FilterType.LIST_ANY_OF),
        "institution": FilterSpec("institution", FilterType.ANY_OF),
        "language": FilterSpec("language", FilterType.ANY_OF),
        "ip_status": FilterSpec("ip_status", FilterType.ANY_OF),
        "trl_min": FilterSpec("trl", FilterType.MIN),
        "trl_max": FilterSpec("trl", FilterType.MAX),
    },
    Kind.NEEDS: {
        "industry": FilterSpec("industry", FilterType.ANY_OF),
        "field": FilterSpec("industry", FilterType.ANY_OF),
        "region": FilterSpec("region", FilterType.ANY_OF),
        "enterprise": FilterSpec("enterprise", FilterType.ANY_OF),
        "language": FilterSpec("language", FilterType.ANY_OF),
        "deadline_from": FilterSpec("deadline", FilterType.ON_OR_AFTER),
    },
}

INTEGER_FILTERS = frozenset(name for specs in FILTERS.values() for name, spec in specs.items() if spec.takes_integer)
INTEGER_RANGE = TRL_RANGE  # the bounds filter a TRL (the only whole-number field)
DATE_FILTERS = frozenset(name for specs in FILTERS.values() for name, spec in specs.items() if spec.takes_date)


def takes_integer(name: str) -> bool:
    """Whether the filter ``name`` (of either side) takes a whole number rather than text."""
    return name in INTEGER_FILTERS


def query_filter_value(name: str, values: Sequence[str]) -> str | int | list[str]:
    """A filter's value from a query string, where it appears once or more (``values``, in order).

    A whole-number filter takes its last value, parsed by :class:`int`; a text filter its value, or
    the list of them when repeated. Which values are valid is :meth:`Filters.parse`'s to say.
    """
    if takes_integer(name):
        raw = values[-1]
        try:
            return int(raw)
        except ValueError:
            raise InvalidInput(
                f"Query parameter '{name}' must be a whole number, got {raw!r}",
                details={"parameter": name, "value": raw},
            ) from None
    if name in DATE_FILTERS:
        return values[-1]
    return list(values) if len(values) > 1 else values[0]


def _values(name: str, raw: Any) -> list[str]:
    """A text filter's values, lower-cased; blank ones are left out (an empty form field filters nothing)."""
    values = raw if isinstance(raw, list) else [raw]
    if not all(isinstance(value, str) for value in values):
        raise InvalidInput(
            f"Filter '{name}' takes a string or a list of strings, got {raw!r}",
            details={"parameter": f"filters.{name}", "value": raw},
        )
    return [value.strip().lower() for value in values if value.strip()]


def _trl(name: str, raw: Any) -> int:
    low, high = INTEGER_RANGE
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise InvalidInput(
            f"Filter '{name}' takes a whole number from {low} to {high}, got {raw!r}",
            details={"parameter": f"filters.{name}", "value": raw},
        )
    return raw


def _date(name: str, raw: Any) -> str:
    if isinstance(raw, str) and len(raw) == 10:
        try:
            return dt.date.fromisoformat(raw).isoformat()
        except ValueError:
            pass
    raise InvalidInput(
        f"Filter '{name}' takes a date, YYYY-MM-DD, got {raw!r}",
        details={"parameter": f"filters.{name}", "value": raw},
    )


@dataclass(frozen=True)
class Condition:
    """One validated filter: text values (lower-cased) for ``any_of`` kinds, a whole number for a bound."""

    name: str
    spec: FilterSpec
    values: tuple[str, ...] = ()
    bound: int | None = None


@dataclass(frozen=True)
class Filters:
    """A side's filters, validated once; the catalogue turns them into SQL (``Catalogue.keys_matching``)."""

    kind: Kind
    conditions: tuple[Condition, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.conditions)

    @classmethod
    def parse(cls, kind: Kind, filters: dict[str, Any] | None) -> Filters:
        """Validate raw filters (from JSON, a query string or the CLI); errors name the filter."""
        if not filters:
            return cls(kind)
        if not isinstance(filters, dict):
            raise InvalidInput("'filters' must be an object", details={"parameter": "filters", "value": filters})
        valid = FILTERS[kind]
        unknown = sorted(set(filters) - set(valid))
        if unknown:
            raise InvalidInput(
                f"Unknown filter(s) {unknown} for {kind.value}; valid filters are {sorted(valid)}",
                details={"parameter": "filters", "unknown": unknown, "valid": sorted(valid)},
            )
        conditions: list[Condition] = []
        for name, raw in sorted(filters.items()):
            if raw is None:
                continue
            spec = valid[name]
            if spec.takes_integer:
                conditions.append(Condition(name, spec, bound=_trl(name, raw)))
            elif spec.takes_date:
                conditions.append(Condition(name, spec, values=(_date(name, raw),)))
            elif values := _values(name, raw):
                conditions.append(Condition(name, spec, values=tuple(values)))
        # trl_min above trl_max is an empty range: it matches no record (the SQL says so), not an error.
        return cls(kind, tuple(conditions))

"""The report page's table: its columns for each kind of report, its controls, and one page of it.

A rolling report shows SPEC 5's figures and each store's outages; a period report
SPEC 8's columns. Everything a page needs to draw the table (header groups,
labels, sort links, cell text, pager) is shaped here, so the template only loops.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

import numpy as np
import pandas as pd



PAGE_SIZES = (50, 100, 500)
WORST_STORES = 5


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    group: str = ""  # the header above it (Uptime, Downtime, Outages)
    decimals: int = 2
    bad_when_positive: bool = False  # drawn as bad news when above 0


@dataclass(frozen=True)
class Layout:
    """One kind of report's table: its columns and its quick filters (name -> label, column > 0)."""

    columns: tuple[Column, ...]
    filters: dict[str, tuple[str, str | None]]

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def groups(self) -> list[dict]:
        """The header row above the labels: consecutive columns of one group share a cell."""
        cells: list[dict] = []
        for column in self.columns:
            if cells and cells[-1]["label"] == column.group:
                cells[-1]["span"] += 1
            else:
                cells.append({"label": column.group, "span": 1, "css": column.group.lower()})
        return cells


_STORE = Column("store_id", "Store")
ROLLING = Layout(
    columns=(
        _STORE,
        Column("uptime_last_hour", "Last hour (min)", "Uptime"),
        Column("uptime_last_day", "Last day (h)", "Uptime"),
        Column("uptime_last_week", "Last week (h)", "Uptime"),
        Column("downtime_last_hour", "Last hour (min)", "Downtime", bad_when_positive=True),
        Column("downtime_last_day", "Last day (h)", "Downtime", bad_when_positive=True),
        Column("downtime_last_week", "Last week (h)", "Downtime", bad_when_positive=True),
        Column("outages_last_day", "Last day", "Outages", decimals=0),
        Column("outages_last_week", "Last week", "Outages", decimals=0),
        Column("longest_outage_minutes", "Longest (min)", "Outages"),
    ),
    filters={
        "all": ("All stores", None),
        "down_hour": ("Down in the last hour", "downtime_last_hour"),
        "down_day": ("Down in the last day", "downtime_last_day"),
        "down_week": ("Down in the last week", "downtime_last_week"),
    },
)
PERIOD = Layout(
    columns=(
        _STORE,
        Column("uptime_hours", "Uptime (h)"),
        Column("downtime_hours", "Downtime (h)", bad_when_positive=True),
        Column("uptime_percent", "Uptime (%)"),
        Column("outages", "Outages", decimals=0, bad_when_positive=True),
        Column("longest_outage_minutes", "Longest outage (min)"),
    ),
    filters={
        "all": ("All stores", None),
        "down": ("Down in the period", "downtime_hours"),
        "interrupted": ("With an outage", "outages"),
    },
)


def layout_of(kind: str) -> Layout:
    return ROLLING if kind == "rolling" else PERIOD


@dataclass(frozen=True)
class TableQuery:
    """The report table's controls, read leniently: a bad value is its default, never an error."""

    q: str = ""
    show: str = "all"
    sort: str = "store_id"
    order: str = "asc"
    page: int = 1
    per: int = PAGE_SIZES[0]

    @classmethod
    def from_params(cls, params: Mapping[str, str], *, layout: Layout = ROLLING) -> TableQuery:
        sort = params.get("sort", "store_id")
        sort = sort if sort in layout.names else "store_id"
        default_order = "asc" if sort == "store_id" else "desc"
        order = params.get("order", default_order)
        return cls(
            q=params.get("q", "").strip()[:200],
            show=params.get("show", "all") if params.get("show") in layout.filters else "all",
            sort=sort,
            order=order if order in ("asc", "desc") else default_order,
            page=_positive_int(params.get("page"), 1),
            per=int(params["per"]) if params.get("per") in [str(size) for size in PAGE_SIZES] else PAGE_SIZES[0],
        )

    def link(self, **changes) -> str:
        """The query string of this table with some controls changed (defaults left out)."""
        values = {"q": self.q, "show": self.show, "sort": self.sort, "order": self.order, "page": self.page, "per": self.per}
        values.update(changes)
        defaults = {"q": "", "show": "all", "page": 1, "per": PAGE_SIZES[0]}
        if values["sort"] == "store_id" and values["order"] == "asc":
            defaults.update(sort="store_id", order="asc")
        return "?" + urlencode({key: value for key, value in values.items() if defaults.get(key) != value})

    def sort_link(self, column: str) -> str:
        """Clicking a header sorts by it; clicking the sorted header again flips the order.
        Numbers start with the largest first: the worst stores are what an owner looks for."""
        if column == self.sort:
            order = "desc" if self.order == "asc" else "asc"
        else:
            order = "asc" if column == "store_id" else "desc"
        return self.link(sort=column, order=order, page=1)


def _positive_int(raw: str | None, default: int) -> int:
    try:
        value = int(raw or "")
    except ValueError:
        return default
    return value if value >= 1 else default


@dataclass(frozen=True)
class TablePage:
    layout: Layout
    query: TableQuery
    rows: list[dict]  # the frame's records: store_id and each column's value
    total: int  # stores in the report
    matched: int  # stores left by the filters
    page: int
    pages: int

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.query.per + 1 if self.matched else 0

    @property
    def last_index(self) -> int:
        return min(self.page * self.query.per, self.matched)

    @property
    def groups(self) -> list[dict]:
        return self.layout.groups()

    @property
    def headers(self) -> list[dict]:
        """Each column's label, sort link and aria-sort state."""
        aria = {"asc": "ascending", "desc": "descending"}
        return [
            {
                "column": column.name,
                "label": column.label,
                "group": column.group,
                "href": self.query.sort_link(column.name),
                "aria_sort": aria[self.query.order] if column.name == self.query.sort else "none",
            }
            for column in self.layout.columns
        ]

    @property
    def cells(self) -> list[dict]:
        """Each row: its store id and its figures as the page writes them."""
        figures = self.layout.columns[1:]
        return [
            {"store_id": row["store_id"], "cells": [_cell(column, row[column.name]) for column in figures]}
            for row in self.rows
        ]

    @property
    def pager(self) -> dict[str, str | None]:
        """Links to the first, previous, next and last pages (None where there is none)."""
        before, after = self.page > 1, self.page < self.pages
        return {
            "first": self.query.link(page=1) if before else None,
            "previous": self.query.link(page=self.page - 1) if before else None,
            "next": self.query.link(page=self.page + 1) if after else None,
            "last": self.query.link(page=self.pages) if after else None,
        }


def _cell(column: Column, value: float) -> dict:
    if pd.isna(value):
        return {"text": "–", "bad": False}
    return {"text": f"{value:.{column.decimals}f}", "bad": column.bad_when_positive and value > 0}


def report_table(*, frame: pd.DataFrame, query: TableQuery, layout: Layout = ROLLING) -> TablePage:
    matched = frame
    if query.q:
        matched = matched[matched["store_id"].str.contains(query.q, case=False, regex=False)]
    column = layout.filters[query.show][1]
    if column:
        matched = matched[matched[column] > 0]
    ordered = ordered_by(matched, column=query.sort, ascending=query.order == "asc")
    pages = max(1, -(-len(ordered) // query.per))
    page = min(query.page, pages)
    rows = ordered.iloc[(page - 1) * query.per : page * query.per].to_dict("records")
    return TablePage(layout=layout, query=query, rows=rows, total=len(frame), matched=len(ordered), page=page, pages=pages)


def ordered_by(frame: pd.DataFrame, *, column: str, ascending: bool) -> pd.DataFrame:
    """The frame (in store_id order) sorted by one column; ties stay in store_id order,
    so a page never reshuffles between two requests. One stable argsort of one
    float column is several times faster than a two-key sort with strings. Missing
    values (a period's percent without open time) sort last either way."""
    if column == "store_id":
        return frame if ascending else frame.iloc[::-1]
    values = frame[column].to_numpy(dtype="float64")
    keys = np.where(np.isnan(values), np.inf, values if ascending else -values)
    return frame.iloc[np.argsort(keys, kind="stable")]

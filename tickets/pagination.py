"""Counting that stays fast on millions of rows: counts stop at a cap ("10,000+")."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet

PAGE_COUNT_CAP = 10_000
SIDEBAR_COUNT_CAP = 999


class CappedPaginator(Paginator):
    """A Paginator whose count reads at most `cap + 1` index entries instead of the table."""

    cap = PAGE_COUNT_CAP

    @cached_property
    def exact_count(self) -> int:
        object_list: Any = self.object_list
        if isinstance(object_list, QuerySet):
            return object_list.order_by()[: self.cap + 1].count()
        return len(object_list)

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        return min(self.exact_count, self.cap)

    @property
    def capped(self) -> bool:
        return self.exact_count > self.cap

    @property
    def display_count(self) -> str:
        return f"{self.cap:,}+" if self.capped else f"{self.count:,}"


def capped_counts(
    querysets: dict[str, QuerySet[Any]], *, cap: int = SIDEBAR_COUNT_CAP
) -> dict[str, str]:
    """Several capped counts in ONE query: `SELECT (SELECT count(*) FROM (… LIMIT cap+1)), …`.

    Each count stops after cap+1 rows, so a view over a million tickets costs what a view over
    a thousand does. Returns display strings ("42", "999+")."""
    parts: list[str] = []
    params: list[Any] = []
    for qs in querysets.values():
        try:
            sql, qs_params = qs.order_by().values("pk")[: cap + 1].query.sql_with_params()
        except EmptyResultSet:  # e.g. `group_id IN ()` for someone in no team
            parts.append("0")
            continue
        parts.append(f"(SELECT count(*) FROM ({sql}) AS sub)")  # noqa: S608 - compiled ORM SQL, params bound
        params.extend(qs_params)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        row = cursor.fetchone()
    return {
        name: (f"{cap}+" if value > cap else str(value))
        for name, value in zip(querysets, row or (), strict=True)
    }

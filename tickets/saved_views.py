"""Saved views: a named queue (filters, a search query among them, columns and sort), personal
or shared with a team. The services and selectors of the one entity, kept apart from the big
`services` module; they follow its rules (keyword-only typed arguments, one transaction)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import Http404

from .access import my_group_ids
from .models import Group, SavedView, Ticket
from .pagination import capped_counts
from .roles import is_agent, sees_all_tickets
from .search.engine import SearchError, apply_search
from .search.index import documents_repair_recent
from .search.parser import parse_query

FILTER_KEYS = ("view", "status", "priority", "channel", "group", "assignee", "tag", "q")
COLUMN_KEYS = tuple(key for key, _ in SavedView.COLUMNS)


class SavedViewError(ValueError):
    """The view cannot be saved as asked; the message says why."""


# --- reading -------------------------------------------------------------------------------------


def visible_saved_views(user: Any) -> QuerySet[SavedView]:
    """The user's own views and the views shared with their teams (supervisors: every shared
    view). Nothing for customers."""
    if not is_agent(user):
        return SavedView.objects.none()
    shared = (
        Q(group__isnull=False) if sees_all_tickets(user) else Q(group_id__in=my_group_ids(user))
    )
    return (
        SavedView.objects.filter(Q(owner=user) | shared)
        .select_related("group", "owner")
        .order_by("position", "name", "id")
    )


def access_saved_view_by_id(user: Any, view_id: int) -> SavedView:
    found = visible_saved_views(user).filter(pk=view_id).first()
    if found is None:
        raise Http404("No such view.")
    return found


def may_change(user: Any, view: SavedView) -> bool:
    """The owner; for a shared view also supervisors and admins."""
    return view.owner_id == user.pk or (view.group_id is not None and sees_all_tickets(user))


def saved_view_tickets(user: Any, view: SavedView, *, eager: bool = True) -> QuerySet[Ticket]:
    """The view's tickets (unordered), as the queue would list them."""
    from .forms import QueueFilterForm
    from .selectors import queue_tickets

    query = QueueFilterForm(form_data(view)).to_query()
    if eager:
        return queue_tickets(user, query)
    # counts: the search part as a subquery, so all counts go in one query
    base = queue_tickets(user, replace(query, q=""))
    if not query.q:
        return base
    return apply_search(base, user, parse_query(query.q), eager=False)


def saved_view_counts(user: Any, views: list[SavedView]) -> dict[int, str]:
    """Live counts of the views ("12", "999+"), all in one query. A view whose query no
    longer resolves (a deleted group or tag) counts as "!"."""
    querysets: dict[str, QuerySet[Any]] = {}
    broken: set[int] = set()
    if any((v.filters or {}).get("q") for v in views):
        documents_repair_recent()  # once for all (each count keeps its search as a subquery)
    for view in views:
        try:
            querysets[str(view.pk)] = saved_view_tickets(user, view, eager=False)
        except SearchError:
            broken.add(view.pk)
    counts = capped_counts(querysets) if querysets else {}
    return {v.pk: ("!" if v.pk in broken else counts[str(v.pk)]) for v in views}


def form_data(view: SavedView) -> dict[str, Any]:
    data = {
        k: v for k, v in (view.filters or {}).items() if k in FILTER_KEYS and v not in (None, "")
    }
    if view.sort:
        data["sort"] = view.sort
    return data


def columns_of(view: SavedView | None) -> list[str]:
    if view is None or not view.columns:
        return list(SavedView.DEFAULT_COLUMNS)
    return [c for c in COLUMN_KEYS if c in view.columns]


# --- writing -------------------------------------------------------------------------------------


def _clean(
    user: Any, *, name: str, filters: dict[str, Any], columns: list[str], sort: str, group: Any
) -> dict[str, Any]:
    from .forms import QueueFilterForm
    from .selectors import SORTS

    name = " ".join((name or "").split())[:100]
    if not name:
        raise SavedViewError("Give the view a name.")
    unknown = sorted(set(filters) - set(FILTER_KEYS))
    if unknown:
        raise SavedViewError(f"Unknown filters: {', '.join(unknown)}.")
    form = QueueFilterForm({k: v for k, v in filters.items() if v not in (None, "")})
    if not form.is_valid():
        problems = "; ".join(f"{k}: {' '.join(map(str, e))}" for k, e in form.errors.items())
        raise SavedViewError(f"Some filters are not valid ({problems}).")
    cleaned = {k: form.cleaned_data.get(k) for k in FILTER_KEYS}
    cleaned = {k: v for k, v in cleaned.items() if v not in (None, "")}
    q = cleaned.get("q", "")
    if q:
        errors = parse_query(q).errors
        if errors:
            raise SavedViewError(" ".join(errors))
    wrong = sorted(set(columns) - set(COLUMN_KEYS))
    if wrong:
        raise SavedViewError(f"Unknown columns: {', '.join(wrong)}.")
    if sort and sort not in SORTS:
        raise SavedViewError(f"Unknown sort “{sort}”.")
    if group is not None and not (sees_all_tickets(user) or group.pk in my_group_ids(user)):
        raise SavedViewError("You can only share a view with a team you belong to.")
    return {
        "name": name,
        "filters": cleaned,
        "columns": [c for c in COLUMN_KEYS if c in columns],
        "sort": sort or "",
        "group": group,
    }


@transaction.atomic
def saved_view_save(
    *,
    owner: Any,
    name: str,
    filters: dict[str, Any],
    columns: list[str] | None = None,
    sort: str = "",
    group: Group | None = None,
) -> SavedView:
    """Create the owner's view, or replace the one of theirs with the same name."""
    if not is_agent(owner):
        raise SavedViewError("Only agents have saved views.")
    values = _clean(
        owner, name=name, filters=filters, columns=list(columns or []), sort=sort, group=group
    )
    view, _ = SavedView.objects.update_or_create(
        owner=owner, name=values.pop("name"), defaults=values
    )
    return view


@transaction.atomic
def saved_view_update(*, view: SavedView, actor: Any, **changes: Any) -> SavedView:
    """Change some of name, filters, columns, sort, group (the others stay)."""
    if not may_change(actor, view):
        raise SavedViewError("Only its owner (or a supervisor, for a shared view) may change it.")
    view = SavedView.objects.select_for_update().get(pk=view.pk)
    current = {
        "name": view.name,
        "filters": view.filters,
        "columns": view.columns,
        "sort": view.sort,
        "group": view.group,
    }
    current.update({k: v for k, v in changes.items() if k in current})
    values = _clean(actor, **current)
    for key, value in values.items():
        setattr(view, key, value)
    try:
        with transaction.atomic():
            view.save(update_fields=["name", "filters", "columns", "sort", "group"])
    except IntegrityError as exc:
        raise SavedViewError(f"You already have a view called “{values['name']}”.") from exc
    return view


@transaction.atomic
def saved_view_delete(*, view: SavedView, actor: Any) -> None:
    if not may_change(actor, view):
        raise SavedViewError("Only its owner (or a supervisor, for a shared view) may delete it.")
    view.delete()

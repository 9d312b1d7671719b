"""`{% sla_badge due_at %}`: the countdown badge of a due time (time left, or overdue by), as
the server sees it now; static/js/sla.js keeps it ticking without a reload."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _

register = template.Library()


def _span(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return _("%(n)ss") % {"n": max(0, int(seconds))}
    if minutes < 60:
        return _("%(n)sm") % {"n": minutes}
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return _("%(h)sh %(m)sm") % {"h": hours, "m": rest}
    return _("%(d)sd %(h)sh") % {"d": hours // 24, "h": hours % 24}


def countdown_text(due: datetime, now: datetime | None = None) -> tuple[str, bool]:
    left = (due - (now or timezone.now())).total_seconds()
    if left < 0:
        return _("overdue by %(span)s") % {"span": _span(-left)}, True
    return _("%(span)s left") % {"span": _span(left)}, False


@register.inclusion_tag("tickets/_sla_badge.html")
def sla_badge(due: datetime | None) -> dict[str, object]:
    if due is None:
        return {"due": None}
    text, overdue = countdown_text(due)
    return {"due": due, "text": text, "overdue": overdue}

from __future__ import annotations

from django import template
from django.urls import reverse

from kb.models import Category
from kb.selectors import category_url_path

register = template.Library()


@register.simple_tag
def category_url(locale: str, category: Category) -> str:
    return reverse("kb:category", kwargs={"locale": locale, "path": category_url_path(category)})

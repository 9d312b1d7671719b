"""Filters for showing a message's stored (already sanitised) HTML."""

from __future__ import annotations

import re

from django import template
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# `services.message_link_inline_images` points cid: images at the desk's inline view; a
# customer reads the same message through the portal's own access-checked view.
_DESK_INLINE = re.compile(r"""(["'])/desk/attachments/(\d+)/inline/\1""")


@register.filter
def portal_inline_images(html: str) -> SafeString:
    """The message HTML with its inline images served by the portal instead of the desk.
    The input is the sanitiser's output (`Message.html`), which the thread renders as safe."""
    return mark_safe(_DESK_INLINE.sub(r"\1/portal/attachments/\2/inline/\1", html))  # noqa: S308

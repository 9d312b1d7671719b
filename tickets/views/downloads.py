"""How every stored file leaves the app: the one place that writes a download's headers.

Attachments come from strangers (a mailed HTML page, an SVG with a script in it). They are never
served by a static route (nothing maps MEDIA_URL), only through access-checked views that call
these functions, and a response carrying one can neither run script on our origin nor be
sniffed into something that does.
"""

from __future__ import annotations

from django.http import FileResponse

from ..models import Attachment

# The policy of a file's own response: it may load nothing, run nothing, and is sandboxed
# (an opaque origin) even if a browser were to render it.
FILE_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'; form-action 'none'"

# Raster images only: SVG can carry script, so it is never shown inline.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"})


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _harden(response: FileResponse) -> FileResponse:
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


def attachment_download(attachment: Attachment) -> FileResponse:
    """Always a download (`Content-Disposition: attachment`), never rendered in place, whatever
    the type: HTML, SVG, XML or a script is saved, not shown, and `nosniff` with a sandboxing
    policy keep it inert even in a browser that ignored the disposition. The declared type is
    kept so the saved file opens in the right program."""
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.filename,
        content_type=attachment.content_type or "application/octet-stream",
    )
    response["Cache-Control"] = "private, no-store"
    return _harden(response)


def attachment_inline_image(attachment: Attachment) -> FileResponse | None:
    """An email's inline (cid:) raster image, for an `<img>` in the thread; None for any other
    type, so an inline SVG or HTML part is never shown in place."""
    kind = media_type(attachment.content_type)
    if kind not in INLINE_IMAGE_TYPES:
        return None
    response = FileResponse(attachment.file.open("rb"), content_type=kind)
    response["Cache-Control"] = "private, max-age=3600"
    return _harden(response)

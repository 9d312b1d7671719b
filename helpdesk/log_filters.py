"""Logging filters named in settings.LOGGING."""

from __future__ import annotations

import logging


class ExpectedClientErrors(logging.Filter):
    """A 4xx answer (a 403 from `PermissionDenied`, a 404 from `Http404`) is the app working as
    meant: keep Django's one-line warning, drop the traceback it attaches. Server errors keep
    theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True

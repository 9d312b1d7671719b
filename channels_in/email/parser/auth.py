"""Trust signals a receiving server wrote into the headers: authentication results
(RFC 8601 ``Authentication-Results``) and spam filters' verdicts.

Both are only as good as the server that wrote them. A sender can put any header into its own
mail, so :func:`aligned_pass` counts only results whose authserv-id the mailbox names as its
own server (``trusted_authserv_ids``); every other ``Authentication-Results`` is ignored.
Spam verdicts need no such care: a forged "this is spam" only costs its sender the answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from .charsets import _unfold
from .common import AuthResult, _valid_str
from .headers import _Headers

_MAX_RESULTS: Final = 50
_COMMENT_RE: Final = re.compile(r"\([^()]*\)")
_QUOTED_RE: Final = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"')
_RESULT_RE: Final = re.compile(r"^([a-z0-9_-]+)(?:/\d+)?\s*=\s*([a-z0-9_-]+)(.*)$", re.DOTALL)
_PROPERTY_RE: Final = re.compile(r"([a-z0-9_-]+\.[a-z0-9_.-]+)\s*=\s*(\S+)")
# Second-level labels under which registries sell names (example.co.uk, example.com.au...):
# a small stand-in for the public suffix list, enough for relaxed DMARC-style alignment.
_SECOND_LEVEL: Final = frozenset(
    {"co", "com", "net", "org", "ac", "gov", "edu", "ne", "or", "go", "gr", "ad", "lg", "ed"}
)


def _strip_comments(value: str) -> str:
    for _ in range(5):  # nested comments, innermost first
        stripped = _COMMENT_RE.sub(" ", value)
        if stripped == value:
            break
        value = stripped
    return value


def parse_authentication_results(values: list[str]) -> tuple[AuthResult, ...]:
    """Every result of every ``Authentication-Results`` value, in header order."""
    results: list[AuthResult] = []
    for raw in values:
        text = _strip_comments(_QUOTED_RE.sub(r"\1", _unfold(raw)[:8192])).lower()
        pieces = [piece.strip() for piece in text.split(";")]
        head = pieces[0].split()
        if not head:
            continue
        authserv_id = _valid_str(head[0])
        for piece in pieces[1:]:
            match = _RESULT_RE.match(piece)
            if match is None or match.group(1) == "none":
                continue
            properties = tuple(
                (name, value.strip().strip("<>"))
                for name, value in _PROPERTY_RE.findall(match.group(3))
            )
            results.append(AuthResult(authserv_id, match.group(1), match.group(2), properties))
            if len(results) >= _MAX_RESULTS:
                return tuple(results)
    return tuple(results)


def _organisational(domain: str) -> str:
    labels = domain.strip(".").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment (RFC 7489 section 3.1): the same organisational domain."""
    domain, from_domain = domain.lower().strip("."), from_domain.lower().strip(".")
    if not domain or not from_domain:
        return False
    return domain == from_domain or _organisational(domain) == _organisational(from_domain)


def _domain_of(value: str) -> str:
    return value.rsplit("@", 1)[-1].strip().lower()


def aligned_pass(
    results: Iterable[AuthResult], *, from_domain: str, trusted_ids: Iterable[str]
) -> str:
    """The first aligned pass by a trusted server, as ``"dmarc=pass (mx.example.com)"``; ""
    when there is none. Aligned: DMARC passing for the From domain, or DKIM (``header.d``) or
    SPF (``smtp.mailfrom``) passing for a domain aligned with the From domain."""
    trusted = {t.strip().lower() for t in trusted_ids if t.strip()}
    if not trusted or not from_domain:
        return ""
    for result in results:
        if result.authserv_id not in trusted or result.result != "pass":
            continue
        if result.method == "dmarc":
            checked = result.prop("header.from")
            ok = not checked or aligned(_domain_of(checked), from_domain)
        elif result.method == "dkim":
            signer = result.prop("header.d") or _domain_of(result.prop("header.i"))
            ok = aligned(signer, from_domain)
        elif result.method == "spf":
            ok = aligned(_domain_of(result.prop("smtp.mailfrom")), from_domain)
        else:
            ok = False
        if ok:
            return f"{result.method}=pass ({result.authserv_id})"
    return ""


# SpamAssassin's default required score; other filters' scores use the same scale.
SPAM_SCORE_THRESHOLD: Final = 5.0
_YES: Final = frozenset({"yes", "true", "spam", "1"})
_NUMBER_RE: Final = re.compile(r"[-+]?\d+(?:\.\d+)?")


def _score(value: str) -> float | None:
    match = _NUMBER_RE.search(value)
    try:
        return float(match.group(0)) if match else None
    except ValueError:
        return None


def spam_verdict(headers: _Headers) -> str:
    """Why an upstream filter called this message spam, or "" when none did."""
    for name in ("x-spam-flag", "x-spam", "x-barracuda-spam-flag"):
        for value in headers.all(name):
            if _unfold(value).strip().lower() in _YES:
                return f"{name}: {_unfold(value).strip()}"
    for name in ("x-spam-status", "x-barracuda-spam-status", "x-spam-verdict"):
        for value in headers.all(name):
            word = re.split(r"[\s,;]+", _unfold(value).strip().lower(), maxsplit=1)[0]
            if word in _YES:
                return f"{name}: {word}"
    for name in ("x-spam-score", "x-spamd-score", "x-spam-report-score", "x-rspamd-score"):
        for value in headers.all(name):
            score = _score(_unfold(value))
            if score is not None and score >= SPAM_SCORE_THRESHOLD:
                return f"{name}: {score:g} (threshold {SPAM_SCORE_THRESHOLD:g})"
    for value in headers.all("x-spam-level"):
        stars = _unfold(value).strip()
        if stars and set(stars) <= {"*", "+"} and len(stars) >= SPAM_SCORE_THRESHOLD:
            return f"x-spam-level: {len(stars)} stars"
    for value in headers.all("x-spamd-result"):
        if _unfold(value).strip().lower().startswith("default: true"):
            return "x-spamd-result: true"
    for value in headers.all("x-rspamd-action"):
        if _unfold(value).strip().lower() in ("reject", "add header", "rewrite subject"):
            return f"x-rspamd-action: {_unfold(value).strip().lower()}"
    for value in headers.all("x-ms-exchange-organization-scl"):
        scl = _score(_unfold(value))
        if scl is not None and scl >= 5:
            return f"x-ms-exchange-organization-scl: {scl:g}"
    for value in headers.all("x-forefront-antispam-report"):
        if re.search(r"\bsfv:\s*spm\b", _unfold(value).lower()):
            return "x-forefront-antispam-report: SFV:SPM"
    return ""

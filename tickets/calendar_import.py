"""Holidays from outside: iCal files and feeds (`icalendar`) and country presets (`holidays`).

Parsing is pure (bytes in, typed holidays out); only `fetch_ical` touches the network.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import holidays as holidays_lib
import icalendar
import requests

MAX_ICAL_BYTES = 2 * 1024 * 1024
MAX_EVENT_DAYS = 31  # a "holiday" longer than a month is a mistake in the feed, not a closure
FETCH_TIMEOUT_SECONDS = 10


class HolidayImportError(ValueError):
    """The file, feed or preset cannot be read; the message says why."""


@dataclass(frozen=True, slots=True)
class HolidayInput:
    date: date
    name: str = ""
    yearly: bool = False


@dataclass(slots=True)
class HolidayImport:
    """What an import found: the holidays, and each event it left out with the reason."""

    holidays: list[HolidayInput] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _as_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return None


def holidays_from_ical(data: bytes) -> HolidayImport:
    """Each VEVENT's dates (DTSTART up to DTEND, exclusive, for all-day events). A yearly
    RRULE without an end becomes a yearly holiday; other repeating rules are reported and
    left out rather than guessed."""
    if len(data) > MAX_ICAL_BYTES:
        raise HolidayImportError(f"The iCal file is larger than {MAX_ICAL_BYTES // 1024} KB.")
    try:
        parsed = icalendar.Calendar.from_ical(data)
    except (ValueError, IndexError, KeyError) as exc:
        raise HolidayImportError(f"Not an iCal (.ics) file: {exc}") from exc
    result = HolidayImport()
    events = parsed.walk("VEVENT")
    if not events and parsed.name != "VCALENDAR":
        raise HolidayImportError("Not an iCal (.ics) file: no VCALENDAR.")
    for event in events:
        name = str(event.get("summary", "")).strip()[:200]
        start_prop = event.get("dtstart")
        start = _as_date(start_prop.dt) if start_prop is not None else None
        if start is None:
            result.skipped.append(f"{name or 'An event'}: no start date")
            continue
        end_prop = event.get("dtend")
        end = _as_date(end_prop.dt) if end_prop is not None else None
        days = max(1, (end - start).days) if end is not None else 1
        if days > MAX_EVENT_DAYS:
            result.skipped.append(f"{name or start.isoformat()}: lasts {days} days")
            continue
        yearly = False
        rule = event.get("rrule")
        if rule is not None:
            freq = [str(value).upper() for value in rule.get("FREQ", [])]
            if freq == ["YEARLY"] and "COUNT" not in rule and "UNTIL" not in rule:
                yearly = True
            else:
                result.skipped.append(
                    f"{name or start.isoformat()}: repeats by a rule other than every year"
                )
                continue
        for offset in range(days):
            result.holidays.append(HolidayInput(start + timedelta(days=offset), name, yearly))
    return result


def fetch_ical(url: str) -> bytes:
    """GET an iCal feed (http or https only), refusing anything larger than an iCal file."""
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise HolidayImportError("Give an http:// or https:// address of an .ics file.")
    try:
        with requests.get(url.strip(), timeout=FETCH_TIMEOUT_SECONDS, stream=True) as response:
            if response.status_code != 200:
                raise HolidayImportError(
                    f"The address answered {response.status_code} {response.reason}."
                )
            body = bytearray()
            for chunk in response.iter_content(64 * 1024):
                body.extend(chunk)
                if len(body) > MAX_ICAL_BYTES:
                    raise HolidayImportError(
                        f"The feed is larger than {MAX_ICAL_BYTES // 1024} KB."
                    )
            return bytes(body)
    except requests.RequestException as exc:
        raise HolidayImportError(f"Could not fetch the feed: {exc}") from exc


@lru_cache(maxsize=1)
def country_choices() -> list[tuple[str, str]]:
    """(ISO code, name) of every country the `holidays` package knows, by name."""
    names = {
        entry[1]: key.replace("_", " ").title()
        for key, entry in holidays_lib.registry.COUNTRIES.items()
    }
    supported = holidays_lib.list_supported_countries()
    return sorted(
        ((code, names.get(code, code)) for code in supported if len(code) == 2),
        key=lambda pair: pair[1],
    )


@lru_cache(maxsize=1)
def _zone_countries() -> dict[str, str]:
    """IANA zone → ISO country, from the system's zone.tab (empty when there is none)."""
    for folder in zoneinfo.TZPATH:
        try:
            text = Path(folder, "zone.tab").read_text(encoding="utf-8")
        except OSError:
            continue
        pairs = (line.split("\t") for line in text.splitlines() if not line.startswith("#"))
        return {cols[2]: cols[0] for cols in pairs if len(cols) >= 3}
    return {}


def country_for_timezone(name: str) -> str:
    """The country a zone belongs to ("Europe/Berlin" → "DE"), or "" when unknown."""
    return _zone_countries().get(name, "")


def subdivisions(country: str) -> list[str]:
    return list(holidays_lib.list_supported_countries().get(country.upper(), []))


def holidays_from_country(
    country: str, *, subdivision: str = "", years: list[int]
) -> HolidayImport:
    """A country's (and optionally a region's) public holidays for the given years, as single
    dates: movable feasts (Easter, Thanksgiving) fall on other dates each year."""
    code = country.strip().upper()
    if code not in dict(country_choices()):
        raise HolidayImportError(f"No holiday preset for the country {country!r}.")
    region = subdivision.strip() or None
    if region is not None and region not in subdivisions(code):
        raise HolidayImportError(
            f"{code} has no region {subdivision!r}; known: {', '.join(subdivisions(code))}."
        )
    try:
        found = holidays_lib.country_holidays(code, subdiv=region, years=years)
    except NotImplementedError as exc:
        raise HolidayImportError(str(exc)) from exc
    return HolidayImport(
        holidays=[HolidayInput(day, str(name)[:200]) for day, name in sorted(found.items())]
    )

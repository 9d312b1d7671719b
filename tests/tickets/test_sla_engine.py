"""The pure SLA engine: each semantic of the issue, and live (one entry at a time, saved and
loaded between entries) against one-shot replay for random timelines, calendars, policies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickets.calendars import WEEKDAYS, CalendarSpec
from tickets.sla import (
    AgentReply,
    CustomerMessage,
    Entry,
    Metric,
    Opened,
    Other,
    PriorityChange,
    SlaError,
    SlaPolicySpec,
    SlaState,
    StatusChange,
    TargetResult,
    Targets,
    next_due,
    parse_pause_on,
    parse_targets,
    sla_replay,
    sla_results,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # a Tuesday


def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


POLICY = SlaPolicySpec(
    targets={
        "normal": Targets(first_reply=60, next_reply=30, resolution=240),
        "urgent": Targets(first_reply=15, next_reply=10, resolution=120),
        "low": Targets(first_reply=480, resolution=2880),
    }
)


def by_metric(results: list[TargetResult]) -> dict[str, TargetResult]:
    """The last cycle of each metric."""
    return {r.metric.value: r for r in results}


def run(
    entries: list[Entry],
    *,
    now: datetime | None = None,
    policy: SlaPolicySpec = POLICY,
    spec: CalendarSpec | None = None,
) -> dict[str, TargetResult]:
    return by_metric(sla_results(policy, spec, entries, now=now))


def test_first_reply_met_and_resolution_running() -> None:
    r = run([Opened(T0, "normal"), AgentReply(m(20))], now=m(30))
    assert r["first_reply"].due_at == m(60)
    assert r["first_reply"].completed_at == m(20)
    assert not r["first_reply"].breached
    assert r["resolution"].due_at == m(240) and r["resolution"].running


def test_breach_is_at_the_due_instant_whenever_it_is_seen() -> None:
    entries: list[Entry] = [Opened(T0, "normal")]
    late = run(entries, now=m(500))["first_reply"]
    assert late.breached and late.breached_at == m(60) and late.completed_at is None
    replied = run([*entries, AgentReply(m(75))])["first_reply"]
    assert replied.completed_at == m(75) and replied.breached_at == m(60)


def test_a_reply_at_the_due_instant_is_in_time() -> None:
    r = run([Opened(T0, "normal"), AgentReply(m(60))], now=m(61))["first_reply"]
    assert not r.breached and r.completed_at == m(60)
    assert run([Opened(T0, "normal")], now=m(60))["first_reply"].breached is False


def test_pending_pauses_resolution_and_reopening_resumes_with_the_time_used() -> None:
    entries: list[Entry] = [
        Opened(T0, "normal"),
        AgentReply(m(10)),
        StatusChange(m(100), "pending"),  # 100 minutes used of 240
    ]
    paused = run(entries, now=m(1000))["resolution"]
    assert paused.paused and paused.due_at is None and not paused.breached
    resumed = run([*entries, StatusChange(m(1000), "open")], now=m(1001))["resolution"]
    assert resumed.due_at == m(1000 + 140)
    assert not resumed.paused and not resumed.breached


def test_on_hold_pauses_only_the_targets_the_policy_names() -> None:
    policy = SlaPolicySpec(
        targets=POLICY.targets,
        pause_on=frozenset({"on_hold"}),
        pause_targets=frozenset({Metric.RESOLUTION, Metric.FIRST_REPLY}),
    )
    entries: list[Entry] = [Opened(T0, "normal"), StatusChange(m(30), "on_hold")]
    r = run(entries, now=m(300), policy=policy)
    assert r["first_reply"].paused and r["resolution"].paused
    # pending is not in this policy's pause_on: it pauses nothing
    r = run([Opened(T0, "normal"), StatusChange(m(30), "pending")], now=m(300), policy=policy)
    assert r["first_reply"].breached and r["first_reply"].breached_at == m(60)
    # the default policy pauses resolution only: first reply keeps running while on hold
    r = run(entries, now=m(300))
    assert r["first_reply"].breached and r["resolution"].paused


def test_priority_change_recomputes_from_the_targets_start() -> None:
    entries: list[Entry] = [Opened(T0, "normal"), PriorityChange(m(5), "urgent")]
    r = run(entries, now=m(6))
    assert r["first_reply"].due_at == m(15)
    assert r["resolution"].due_at == m(120)
    # lowered later: the due moves out, measured from the opening still
    r = run([*entries, PriorityChange(m(10), "low")], now=m(11))
    assert r["first_reply"].due_at == m(480)


def test_priority_change_after_a_breach_keeps_the_breach() -> None:
    entries: list[Entry] = [Opened(T0, "urgent"), PriorityChange(m(20), "low")]
    r = run(entries, now=m(21))["first_reply"]
    assert r.breached and r.breached_at == m(15)
    assert r.due_at == m(480)


def test_priority_change_keeps_time_used_across_a_pause() -> None:
    policy = SlaPolicySpec(targets=POLICY.targets)
    entries: list[Entry] = [
        Opened(T0, "normal"),
        AgentReply(m(1)),
        StatusChange(m(60), "pending"),
        PriorityChange(m(100), "urgent"),
        StatusChange(m(200), "open"),
    ]
    r = run(entries, now=m(201), policy=policy)["resolution"]
    assert r.due_at == m(200 + 60)  # 120 urgent minutes, 60 used before the pause


def test_solving_stops_every_running_target() -> None:
    entries: list[Entry] = [
        Opened(T0, "normal"),
        AgentReply(m(5)),
        CustomerMessage(m(10)),  # next reply due at 40
        StatusChange(m(20), "solved"),
    ]
    results = sla_results(POLICY, None, entries, now=m(5000))
    r = by_metric(results)
    assert "next_reply" not in r  # Chatwoot #10178: no next-reply clock on a solved ticket
    assert r["resolution"].completed_at == m(20) and not r["resolution"].breached
    assert not any(x.running for x in results) and not any(x.breached for x in results)
    assert next_due(results) is None


def test_solved_without_a_reply_first_reply_waits_and_reopening_resumes_it() -> None:
    entries: list[Entry] = [Opened(T0, "normal"), StatusChange(m(40), "solved")]
    r = run(entries, now=m(5000))
    assert not r["first_reply"].breached and r["first_reply"].paused
    r = run([*entries, StatusChange(m(100), "open")], now=m(101))
    assert r["first_reply"].due_at == m(120)  # 40 used, 20 left
    assert r["resolution"].due_at == m(100 + 200) and r["resolution"].completed_at is None


def test_a_customer_message_on_a_solved_ticket_starts_next_reply_when_reopened() -> None:
    entries: list[Entry] = [
        Opened(T0, "normal"),
        AgentReply(m(5)),
        StatusChange(m(20), "solved"),
        CustomerMessage(m(300)),
        StatusChange(m(300), "open"),
    ]
    r = run(entries, now=m(301))
    assert r["next_reply"].due_at == m(330)


def test_first_reply_is_never_overruled_while_no_reply_went_out() -> None:
    policy = SlaPolicySpec(
        targets={"normal": Targets(first_reply=120, next_reply=10, periodic_update=5)}
    )
    entries: list[Entry] = [
        Opened(T0, "normal"),
        CustomerMessage(m(1)),
        CustomerMessage(m(2)),
    ]
    results = sla_results(policy, None, entries, now=m(60))
    assert [r.metric for r in results] == [Metric.FIRST_REPLY, Metric.RESOLUTION]
    assert next_due(results) == m(120)  # Zammad #5177: not 11 or 6 minutes
    assert not any(r.breached for r in results)


def test_next_reply_runs_from_the_oldest_unanswered_customer_message() -> None:
    entries: list[Entry] = [
        Opened(T0, "normal"),
        AgentReply(m(5)),
        CustomerMessage(m(100)),
        CustomerMessage(m(110)),
        CustomerMessage(m(125)),
    ]
    r = run(entries, now=m(126))["next_reply"]
    assert r.due_at == m(130) and r.running
    results = sla_results(POLICY, None, [*entries, AgentReply(m(129)), CustomerMessage(m(200))])
    cycles = [x for x in results if x.metric == Metric.NEXT_REPLY]
    assert [(c.cycle, c.completed_at, c.due_at) for c in cycles] == [
        (1, m(129), m(130)),
        (2, None, m(230)),
    ]


@pytest.mark.parametrize("kind", ["automatic", "note", "bot"])
def test_automatic_messages_notes_and_bot_answers_are_not_agent_replies(kind: str) -> None:
    entries: list[Entry] = [Opened(T0, "normal"), Other(m(1), kind)]
    r = run(entries, now=m(61))["first_reply"]
    assert r.completed_at is None and r.breached and r.breached_at == m(60)


def test_periodic_update_runs_from_each_agent_reply() -> None:
    policy = SlaPolicySpec(targets={"normal": Targets(first_reply=60, periodic_update=120)})
    entries: list[Entry] = [Opened(T0, "normal"), AgentReply(m(10)), AgentReply(m(100))]
    cycles = [x for x in sla_results(policy, None, entries) if x.metric == Metric.PERIODIC_UPDATE]
    assert [(c.completed_at, c.due_at) for c in cycles] == [(m(100), m(130)), (None, m(220))]


def test_business_calendar_counts_only_open_hours() -> None:
    spec = CalendarSpec.build(timezone="UTC", hours={d: [["09:00", "17:00"]] for d in WEEKDAYS[:5]})
    friday = datetime(2026, 12, 4, 16, 30, tzinfo=UTC)
    r = by_metric(sla_results(POLICY, spec, [Opened(friday, "normal")]))
    assert r["first_reply"].due_at == datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def test_a_priority_without_targets_has_no_due() -> None:
    policy = SlaPolicySpec(targets={"urgent": Targets(first_reply=5)})
    results = sla_results(policy, None, [Opened(T0, "low")], now=m(1000))
    assert all(r.due_at is None and not r.breached for r in results)


def test_timeline_errors_are_named() -> None:
    state = SlaState(policy=POLICY, spec=None)
    with pytest.raises(SlaError, match="starts with"):
        state.apply(AgentReply(T0))
    state.apply(Opened(T0, "normal"))
    with pytest.raises(SlaError, match="out of order"):
        state.apply(AgentReply(T0 - timedelta(seconds=1)))
    with pytest.raises(SlaError, match="Unknown priority"):
        state.apply(PriorityChange(m(1), "critical"))


def test_policy_parsing_names_what_is_wrong() -> None:
    assert parse_targets({"urgent": {"first_reply": 15}})["urgent"].first_reply == 15
    for bad, message in [
        ({"critical": {}}, "Unknown priority"),
        ({"urgent": {"first_response": 5}}, "unknown target"),
        ({"urgent": {"first_reply": 0}}, "between 1"),
        ({"urgent": {"first_reply": "15"}}, "whole number"),
        ([], "must be an object"),
    ]:
        with pytest.raises(SlaError, match=message):
            parse_targets(bad)
    with pytest.raises(SlaError, match="cannot pause"):
        parse_pause_on(["solved"])


# --- live against replay ------------------------------------------------------------------------

_STATUSES = ["new", "open", "pending", "on_hold", "solved", "open", "closed"]
_PRIORITIES = ["low", "normal", "high", "urgent"]

minutes_st = st.one_of(st.none(), st.integers(min_value=1, max_value=600))
targets_st = st.builds(
    Targets,
    first_reply=minutes_st,
    next_reply=minutes_st,
    periodic_update=minutes_st,
    resolution=minutes_st,
)
policy_st = st.builds(
    SlaPolicySpec,
    targets=st.dictionaries(st.sampled_from(_PRIORITIES), targets_st, max_size=4),
    pause_on=st.frozensets(st.sampled_from(["pending", "on_hold"])),
    pause_targets=st.frozensets(st.sampled_from(list(Metric))),
)


@st.composite
def calendar_st(draw: st.DrawFn) -> CalendarSpec | None:
    if draw(st.booleans()):
        return None
    hours = {}
    for day in WEEKDAYS:
        if draw(st.booleans()):
            start = draw(st.integers(min_value=0, max_value=20))
            end = draw(st.integers(min_value=start + 1, max_value=24))
            hours[day] = [[f"{start:02d}:00", f"{end:02d}:00"]]
    if not hours:
        hours["mon"] = [["09:00", "17:00"]]
    tz = draw(st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]))
    return CalendarSpec.build(timezone=tz, hours=hours)


@st.composite
def timeline_st(draw: st.DrawFn) -> list[Entry]:
    lo, hi = datetime(2026, 1, 1), datetime(2027, 1, 1)  # noqa: DTZ001 - hypothesis wants naive bounds
    start = draw(st.datetimes(min_value=lo, max_value=hi))
    at = start.replace(tzinfo=UTC)
    entries: list[Entry] = [Opened(at, draw(st.sampled_from(_PRIORITIES)))]
    for _ in range(draw(st.integers(min_value=0, max_value=14))):
        at += timedelta(minutes=draw(st.integers(min_value=0, max_value=900)))
        kind = draw(st.integers(min_value=0, max_value=5))
        if kind == 0:
            entries.append(CustomerMessage(at))
        elif kind == 1:
            entries.append(AgentReply(at))
        elif kind == 2:
            entries.append(StatusChange(at, draw(st.sampled_from(_STATUSES))))
        elif kind == 3:
            entries.append(PriorityChange(at, draw(st.sampled_from(_PRIORITIES))))
        else:
            entries.append(Other(at, draw(st.sampled_from(["automatic", "note", "bot"]))))
    return entries


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=policy_st, spec=calendar_st(), entries=timeline_st(), later=st.integers(0, 5000))
def test_live_one_entry_at_a_time_equals_replay(
    policy: SlaPolicySpec, spec: CalendarSpec | None, entries: list[Entry], later: int
) -> None:
    saved = SlaState(policy=policy, spec=spec).to_json()
    for i, entry in enumerate(entries):
        # the live path: load what was saved, apply one entry, save again
        live = SlaState.from_json(saved, policy=policy, spec=spec)
        live.apply(entry)
        saved = live.to_json()
        now = entry.at + timedelta(minutes=later)
        replay = sla_replay(policy, spec, entries[: i + 1])
        assert live.results(now) == replay.results(now)
        assert saved == replay.to_json()
    final = sla_replay(policy, spec, entries)
    now = entries[-1].at + timedelta(minutes=later)
    for r in final.results(now):
        if r.breached:  # breaches are exact: at the due instant, before completion
            assert r.breached_at is not None
            if not any(isinstance(e, PriorityChange) for e in entries):
                assert r.breached_at == r.due_at
            assert r.completed_at is None or r.completed_at > r.breached_at
        elif r.completed_at is not None and r.due_at is not None:
            assert r.completed_at <= r.due_at
        if r.running:
            assert final.status in ("new", "open", "pending", "on_hold")
    if final.status in ("solved", "closed"):
        assert not any(r.running for r in final.results(now))

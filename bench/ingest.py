"""Email ingest rate through the real pipeline, next to the stdlib's parse-only rate.

Every file of the shared corpus (real mail from public test suites) is stored and processed
synchronously, exactly as the Celery task would: `inbound_store(process=False)` then
`inbound_process`, after-commit hooks included. The corpus is repeated until about
`--messages` messages went through; each round gets its own mailbox (ChannelAccount), so the
(account, Message-ID) dedupe treats every round as new mail instead of short-circuiting. The
parse-only figure reads the same bytes with `email.message_from_bytes(policy=default)` and
decodes every part (up to three rounds: its time per file does not vary): the floor any ingest
costs. Both report per-message p50/p95 and the slowest file, because one pathological message
(the corpus has a 3 MB endless multipart) can dominate a rate.

Run by `bench.run` against a scratch database; prints `BENCH {json}` result lines.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import math
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import corpus_dir, emit, percentile, say, setup_django


def load_corpus(root: Path) -> list[tuple[str, bytes]]:
    mail_root = root / "email" if (root / "email").is_dir() else root
    files = sorted(p for p in mail_root.rglob("*") if p.is_file())
    return [(str(p.relative_to(mail_root)), p.read_bytes()) for p in files]


def parse_only(raw: bytes) -> int:
    """The stdlib's full read of one message: headers, every part's decoded content."""
    parts = 0
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        for part in message.walk():
            if part.is_multipart():
                continue
            try:
                part.get_content()
            except Exception:  # noqa: BLE001, S112 - broken parts are part of the corpus
                continue
            parts += 1
    except Exception:  # noqa: BLE001 - a message the stdlib cannot read still counts as read
        return parts
    return parts


def spread(times: list[tuple[float, str]]) -> dict[str, Any]:
    """Per-message p50/p95 and the slowest file: one pathological message can make a rate."""
    seconds = [t for t, _ in times]
    slowest = max(times)
    return {
        "p50_ms": percentile(seconds, 0.5) * 1000,
        "p95_ms": percentile(seconds, 0.95) * 1000,
        "slowest_ms": slowest[0] * 1000,
        "slowest_file": slowest[1],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args(argv)

    corpus = load_corpus(corpus_dir())
    if not corpus:
        emit(workload="email ingest", skipped=f"no corpus files under {corpus_dir()}")
        return 0
    rounds = max(1, math.ceil(args.messages / len(corpus)))
    total = rounds * len(corpus)

    # The stdlib's time per file does not change from one round to the next: a few rounds give
    # the rate of the same mix without minutes spent re-reading the slowest file.
    parse_rounds = min(rounds, 3)
    parse_times: list[tuple[float, str]] = []
    for _ in range(parse_rounds):
        for name, raw in corpus:
            started = time.perf_counter()
            parse_only(raw)
            parse_times.append((time.perf_counter() - started, name))
    parse_seconds = sum(t for t, _ in parse_times)
    parse_rate = len(parse_times) / parse_seconds
    say(f"parse only: {len(parse_times)} messages in {parse_seconds:.2f} s ({parse_rate:,.0f}/s)")
    parse_result = {
        "workload": "email parse only",
        "messages": len(parse_times),
        "seconds": parse_seconds,
        "rate": parse_rate,
        "bytes": parse_rounds * sum(len(raw) for _, raw in corpus),
        **spread(parse_times),
    }

    setup_django()
    try:
        import channels_in.email.adapter  # noqa: F401 - registers the email normaliser
    except ImportError as exc:
        emit(**parse_result)
        emit(workload="email ingest", skipped=f"email adapter not importable: {exc}")
        return 0

    from channels_in.models import ChannelAccount, ChannelKind, InboundMessage
    from channels_in.services import inbound_process, inbound_store
    from tickets.models import Group

    group = Group.objects.get_or_create(name="Support")[0]
    run_id = uuid.uuid4().hex[:8]
    accounts = [
        ChannelAccount.objects.create(
            kind=ChannelKind.EMAIL,
            name=f"bench-{run_id}-{n}",
            address=f"support-{run_id}-{n}@bench.helpdesk",
            group=group,
        )
        for n in range(rounds)
    ]
    crashes: Counter[str] = Counter()
    ingest_times: list[tuple[float, str]] = []
    for n, account in enumerate(accounts):
        round_started = time.perf_counter()
        for name, raw in corpus:
            started = time.perf_counter()
            try:
                stored = inbound_store(account=account, external_id=name, raw=raw, process=False)
                inbound_process(inbound_id=stored.inbound.pk)
            except Exception as exc:  # noqa: BLE001 - a crash is a finding, not the end of the run
                crashes[f"{name}: {type(exc).__name__}: {str(exc)[:120]}"] += 1
            ingest_times.append((time.perf_counter() - started, name))
        say(
            f"ingest round {n + 1}/{rounds}: {len(corpus)} messages in "
            f"{time.perf_counter() - round_started:.2f} s"
        )
    ingest_seconds = sum(t for t, _ in ingest_times)
    ingest_rate = total / ingest_seconds
    rows = InboundMessage.objects.filter(account__in=accounts)
    outcome = Counter(rows.values_list("status", flat=True))
    failed = Counter(
        rows.filter(status=InboundMessage.Status.FAILED).values_list("reason", flat=True)
    )

    emit(**parse_result)
    emit(
        workload="email ingest",
        messages=total,
        rounds=rounds,
        corpus_files=len(corpus),
        seconds=ingest_seconds,
        rate=ingest_rate,
        ratio_to_parse=ingest_rate / parse_rate,
        outcome=dict(outcome),
        failed_reasons=dict(failed.most_common(8)),
        crashes=sum(crashes.values()),
        crash_kinds=dict(crashes.most_common(5)),
        **spread(ingest_times),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""KB search and answer-bot latency: `python -m bench.kb_search --articles 1000`.

Runs against the (scratch) database DATABASE_URL names, which must contain "bench" in its name:
migrates it, loads N synthetic articles (the labelled set's articles, then variants of them with
shuffled vocabulary, each with two questions, embeddings and the search vector computed as the
services do, but in bulk), then times `kb.search.search` and `kb.bot.bot_answer` on the labelled
customer questions: p50/p95 ms, and which vector/trigram path ran.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from bench.common import ROOT, emit, percentile, say, setup_django

EVAL = ROOT / "tests" / "kb" / "eval"


def load(count: int, seed: int) -> None:
    from django.db import connection, transaction

    from kb import embeddings, services
    from kb.importing import import_lines
    from kb.markdown import plain_text, render_markdown
    from kb.models import Article, ArticleGroup, ArticleQuestion

    if Article.objects.count() >= count:
        say(f"kb bench: {Article.objects.count()} articles already there")
        return
    lines = (EVAL / "articles.jsonl").read_text(encoding="utf-8").splitlines()
    list(import_lines(lines))
    base = [json.loads(x) for x in lines]
    words = sorted({w for r in base for w in plain_text(r["body"]).lower().split() if w.isalpha()})
    rng = random.Random(seed)
    made = Article.objects.count()
    batch = 2000
    while made < count:
        n = min(batch, count - made)
        records = []
        for i in range(n):
            template = rng.choice(base)
            extra = " ".join(rng.sample(words, 6))
            title = f"{template['title']} {extra} {made + i}"
            body = template["body"] + "\n\n" + " ".join(rng.sample(words, 40))
            questions = [f"{q} {rng.choice(words)}" for q in template["questions"]]
            records.append((title, body, questions))
        vectors = embeddings.embed(
            [t for t, _b, _q in records] + [f"{t}. {plain_text(b)[:2000]}" for t, b, _q in records]
        )
        qvectors = embeddings.embed([q for _t, _b, qs in records for q in qs])
        with transaction.atomic():
            groups = ArticleGroup.objects.bulk_create([ArticleGroup() for _ in records])
            articles = Article.objects.bulk_create(
                [
                    Article(
                        group=g, locale="en", title=t, slug=f"bench-{made + i}", body=b,
                        body_html=render_markdown(b).html, body_text=plain_text(b),
                        status=Article.Status.PUBLISHED, search_config="english",
                        trigram_text=services.fold(" \n".join([t, *qs])).lower(),
                        embedding=vectors[i].tolist(), body_embedding=vectors[n + i].tolist(),
                    )
                    for i, (g, (t, b, qs)) in enumerate(zip(groups, records, strict=True))
                ]
            )  # fmt: skip
            rows, k = [], 0
            for article, (_t, _b, qs) in zip(articles, records, strict=True):
                for position, q in enumerate(qs):
                    rows.append(
                        ArticleQuestion(
                            article=article, text=q, position=position,
                            embedding=qvectors[k].tolist(),
                        )
                    )  # fmt: skip
                    k += 1
            ArticleQuestion.objects.bulk_create(rows)
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE kb_article a SET search_vector ="
                    " setweight(to_tsvector('english', a.title), 'A')"
                    " || setweight(to_tsvector('english', coalesce((SELECT string_agg(q.text, ' ')"
                    " FROM kb_articlequestion q WHERE q.article_id = a.id), '')), 'B')"
                    " || setweight(to_tsvector('english', a.body_text), 'C')"
                    " WHERE a.search_vector IS NULL"
                )
        made += n
        say(f"kb bench: {made} articles")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE kb_article; ANALYZE kb_articlequestion")


def measure(rounds: int) -> dict[str, object]:
    from django.contrib.auth.models import AnonymousUser

    from kb import search
    from kb.bot import bot_answer

    labelled = json.loads((EVAL / "questions.json").read_text(encoding="utf-8"))
    questions = [q for qs in labelled.values() for q in qs][:rounds]
    user = AnonymousUser()
    for q in questions[:5]:  # warm: the model, the per-process matrix, the plans
        search.search(user=user, query=q, limit=5)
    search_ms, bot_ms = [], []
    for q in questions:
        started = time.perf_counter()
        search.search(user=user, query=q, limit=5)
        search_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        bot_answer(user=user, text=q)
        bot_ms.append((time.perf_counter() - started) * 1000)
    return {
        "search_p50_ms": round(percentile(search_ms, 0.5), 2),
        "search_p95_ms": round(percentile(search_ms, 0.95), 2),
        "bot_p50_ms": round(percentile(bot_ms, 0.5), 2),
        "bot_p95_ms": round(percentile(bot_ms, 0.95), 2),
        "vector_path": search.vector_backend(),
        "trigram_path": search.trigram_backend(),
        "questions": len(questions),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    setup_django()
    from django.conf import settings
    from django.core.management import call_command

    name = str(settings.DATABASES["default"]["NAME"])
    if "bench" not in name:
        raise SystemExit(f"refusing to load benchmark articles into {name!r} (no 'bench' in it)")
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    load(args.articles, args.seed)
    say(f"kb bench: loaded in {time.perf_counter() - started:.1f} s")
    emit(workload="kb_search", articles=args.articles, **measure(args.rounds))


if __name__ == "__main__":
    main()

"""Hybrid article search on PostgreSQL: full-text, trigram and semantic, fused by rank.

Three signals, each a ranked list of article ids drawn from `selectors.readable_articles` (so
visibility is decided in one place for all of them):

- full text: a tsvector per article in its locale's configuration, title weighted A, the
  "questions" B, the body C; the query's words are OR-ed (customers write long sentences, not
  keywords), the last one as a prefix when autocompleting;
- trigrams (pg_trgm): the query against the title and questions, which survives typos;
- semantic: cosine similarity of wordllama embeddings of the query and of each article's title,
  body and questions (the best of them counts), computed by pgvector when the server has the
  `vector` extension, else by a numpy scan over a per-process matrix. Both give the same ranking:
  scores are rounded to the same precision and ties broken by id.

The lists are fused by reciprocal-rank fusion. `confidence` tells the bot how sure the top
result is, from how strongly and how unanimously the signals agree.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import BooleanField, FloatField, Max
from django.db.models.expressions import RawSQL

from . import embeddings, selectors
from .models import Article, ArticleQuestion
from .services import fold, search_config_for

CANDIDATES = 50
# Tuned on tests/kb/eval (see `manage.py kb_eval`): semantic similarity is the strongest single
# signal on customer wording; the lexical ones break its near-ties and carry exact terms.
RRF_K = 5
SIGNAL_WEIGHTS = {"fts": 0.7, "trigram": 0.3, "semantic": 2.0}
# below this cosine a text is unrelated (the top match of 99% of the labelled questions is above
# it, of nonsense and off-topic questions below): it is no result at all
SEMANTIC_MIN = 0.18
# An article's semantic score is the mean of its best short text (title or one of its questions)
# and its body: the short texts carry the few-shot examples of how customers ask, the body the
# topic's vocabulary. Measured on tests/kb/eval, this beat the best single text alone both with
# the articles' own two questions and with five more examples per article.
SHORT, BODY = 0, 1
SCORE_DECIMALS = 4
_WORD = re.compile(r"\w+", re.UNICODE)
_START, _STOP = "\x02", "\x03"


@dataclass
class Hit:
    article_id: int
    score: float
    ranks: dict[str, int] = field(default_factory=dict)
    article: Article | None = None
    snippet: str = ""


@dataclass
class SearchResult:
    query: str
    locale: str
    hits: list[Hit]
    signals: dict[str, list[tuple[int, float]]]
    confidence: float
    took_ms: float


# --- the three signals -------------------------------------------------------------------------


def tsquery_text(query: str, *, prefix: bool) -> str:
    words = [w for w in _WORD.findall(fold(query).lower()) if w.strip("_")][:32]
    if not words:
        return ""
    parts = [w.replace("_", "") for w in words]
    parts = [p for p in parts if p]
    if not parts:
        return ""
    if prefix:
        parts[-1] = parts[-1] + ":*"
    return " | ".join(parts)


def fts_ranking(
    base: Any, *, query: str, config: str, prefix: bool = False
) -> list[tuple[int, float]]:
    text = tsquery_text(query, prefix=prefix)
    if not text:
        return []
    tsq = "to_tsquery(%s::regconfig, %s)"
    rows = (
        base.alias(
            matched=RawSQL(  # noqa: S611 (constant SQL, values as parameters)
                f"kb_article.search_vector @@ {tsq}", [config, text], BooleanField()
            )
        )
        .filter(matched=True)
        .annotate(
            rank=RawSQL(  # noqa: S611 (constant SQL, values as parameters)
                f"ts_rank('{{0.05,0.2,0.5,1.0}}'::float4[], kb_article.search_vector, {tsq}, 1)",
                [config, text],
                FloatField(),
            )
        )
        .order_by("-rank", "id")
        .values_list("id", "rank")[:CANDIDATES]
    )
    return [(pk, float(rank)) for pk, rank in rows]


def trigram_ranking(
    base: Any, *, query: str, backend: str | None = None
) -> list[tuple[int, float]]:
    """pg_trgm's similarity of the query to the title and questions; computed in the process
    where the server has no pg_trgm (the embedded PostgreSQL), by the same definition."""
    cleaned = " ".join(_WORD.findall(fold(query).lower()))[:300]
    if len(cleaned) < 3:
        return []
    if (backend or trigram_backend()) == "python":
        return _trigram_python(base, cleaned)
    rows = (
        base.annotate(
            sim=RawSQL("similarity(%s, kb_article.trigram_text)", [cleaned], FloatField())
        )
        .filter(sim__gt=TRIGRAM_MIN)
        .order_by("-sim", "id")
        .values_list("id", "sim")[:CANDIDATES]
    )
    return [(pk, round(float(sim), SCORE_DECIMALS)) for pk, sim in rows]


TRIGRAM_MIN = 0.05


def trigrams(text: str) -> frozenset[str]:
    """pg_trgm's trigram set: each alphanumeric word, lower-cased, padded "  word "."""
    found: set[str] = set()
    for word in re.findall(r"[^\W_]+", text.lower()):
        padded = f"  {word} "
        found.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return frozenset(found)


def _trigram_python(base: Any, cleaned: str) -> list[tuple[int, float]]:
    wanted = trigrams(cleaned)
    if not wanted:
        return []
    index = _matrix_for(base).trigrams
    scored: list[tuple[int, float]] = []
    for pk in _readable_ids(base).tolist():
        have = index.get(pk)
        if not have:
            continue
        common = len(wanted & have)
        sim = common / (len(wanted) + len(have) - common)
        if sim > TRIGRAM_MIN:
            scored.append((pk, round(sim, SCORE_DECIMALS)))
    scored.sort(key=lambda r: (-r[1], r[0]))
    return scored[:CANDIDATES]


_trgm_support: dict[str, bool] = {}


def trigram_backend() -> str:
    """Where trigram similarity is computed. By default in the process, on the per-process
    index (pg_trgm's definition, see `trigrams`): pg_trgm computes it row by row, about 40x
    slower than set intersections here, and the embedded PostgreSQL has no pg_trgm at all.
    KB_TRIGRAM_BACKEND = "sql" (or "auto", when the extension exists) asks PostgreSQL."""
    wanted = getattr(settings, "KB_TRIGRAM_BACKEND", "python")
    if wanted == "python":
        return "python"
    return "sql" if wanted == "sql" or pg_trgm_available() else "python"


def pg_trgm_available() -> bool:
    key = str(connection.settings_dict.get("NAME"))
    if key not in _trgm_support:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
            _trgm_support[key] = cursor.fetchone() is not None
    return _trgm_support[key]


_vector_support: dict[str, bool] = {}


def pgvector_available() -> bool:
    """Whether this database has the `vector` extension installed (asked once per process)."""
    key = str(connection.settings_dict.get("NAME"))
    if key not in _vector_support:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
            _vector_support[key] = cursor.fetchone() is not None
    return _vector_support[key]


def vector_backend() -> str:
    wanted = getattr(settings, "KB_VECTOR_BACKEND", "auto")
    if wanted in ("numpy", "pgvector"):
        return wanted
    return "pgvector" if pgvector_available() else "numpy"


def semantic_ranking(
    base: Any, *, query: str, backend: str | None = None
) -> list[tuple[int, float]]:
    if not _WORD.search(query):
        return []
    vector = embeddings.embed_one(query)
    if not np.any(vector):
        return []
    if (backend or vector_backend()) == "pgvector":
        return _semantic_pgvector(base, vector)
    return _semantic_numpy(base, vector)


def _semantic_pgvector(base: Any, vector: np.ndarray) -> list[tuple[int, float]]:
    readable_sql, readable_params = base.values("id").query.sql_with_params()
    literal = "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"
    dims = embeddings.DIMENSIONS
    # only constants are interpolated; the query and the readable ids come as parameters
    sql = f"""
        WITH q AS (SELECT %s::vector({dims}) AS v), readable AS ({readable_sql}),
        units AS (
            SELECT a.id AS article_id, {SHORT} AS kind,
                   1 - (a.embedding::vector({dims}) <=> q.v) AS s
              FROM kb_article a, q WHERE a.id IN (SELECT id FROM readable)
                AND a.embedding IS NOT NULL
            UNION ALL
            SELECT a.id, {BODY}, 1 - (a.body_embedding::vector({dims}) <=> q.v)
              FROM kb_article a, q WHERE a.id IN (SELECT id FROM readable)
                AND a.body_embedding IS NOT NULL
            UNION ALL
            SELECT k.article_id, {SHORT}, 1 - (k.embedding::vector({dims}) <=> q.v)
              FROM kb_articlequestion k, q WHERE k.article_id IN (SELECT id FROM readable)
                AND k.embedding IS NOT NULL
        ),
        scored AS (
            SELECT article_id, round(((coalesce(max(s) FILTER (WHERE kind = {SHORT}), 0)
                   + coalesce(max(s) FILTER (WHERE kind = {BODY}), 0)) / 2)::numeric,
                   {SCORE_DECIMALS})::float8 AS score
              FROM units GROUP BY article_id
        )
        SELECT article_id, score FROM scored WHERE score >= {SEMANTIC_MIN}
        ORDER BY score DESC, article_id LIMIT {CANDIDATES}
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [literal, *readable_params])
        return [(int(pk), float(score)) for pk, score in cursor.fetchall()]


@dataclass
class _Matrix:
    key: tuple[Any, ...]
    article_ids: np.ndarray
    kinds: np.ndarray
    vectors: np.ndarray
    trigrams: dict[int, frozenset[str]]


_matrix: _Matrix | None = None
_matrix_lock = threading.Lock()


def _index_key() -> tuple[Any, ...]:
    row = Article.objects.aggregate(last=Max("updated_at"), top=Max("id"), n=Max("questions__id"))
    return (
        str(connection.settings_dict.get("NAME")),
        Article.objects.count(),
        row["last"],
        row["top"],
        row["n"],
    )


def _load_matrix() -> _Matrix:
    """Every article's embedding units, held per process until an article changes."""
    global _matrix
    key = _index_key()
    current = _matrix
    if current is not None and current.key == key:
        return current
    with _matrix_lock:
        ids: list[int] = []
        kinds: list[int] = []
        rows: list[list[float]] = []
        grams: dict[int, frozenset[str]] = {}
        for pk, title_vec, body_vec, trigram_text in Article.objects.values_list(
            "id", "embedding", "body_embedding", "trigram_text"
        ).iterator(chunk_size=2000):
            grams[pk] = trigrams(trigram_text)
            if title_vec:
                ids.append(pk)
                kinds.append(SHORT)
                rows.append(title_vec)
            if body_vec:
                ids.append(pk)
                kinds.append(BODY)
                rows.append(body_vec)
        for article_id, vec in (
            ArticleQuestion.objects.exclude(embedding=None)
            .values_list("article_id", "embedding")
            .iterator(chunk_size=2000)
        ):
            if vec:
                ids.append(article_id)
                kinds.append(SHORT)
                rows.append(vec)
        matrix = (
            np.asarray(rows, dtype=np.float32)
            if rows
            else np.zeros((0, embeddings.DIMENSIONS), dtype=np.float32)
        )
        _matrix = _Matrix(
            key=key,
            article_ids=np.asarray(ids, dtype=np.int64),
            kinds=np.asarray(kinds, dtype=np.int8),
            vectors=matrix,
            trigrams=grams,
        )
        return _matrix


def _readable_ids(base: Any) -> np.ndarray:
    """The readable article ids, read once per search (kept on the queryset object)."""
    ids = getattr(base, "_kb_readable_ids", None)
    if ids is None:
        ids = np.fromiter(base.order_by().values_list("id", flat=True), dtype=np.int64)
        base._kb_readable_ids = ids
    return ids


def _matrix_for(base: Any) -> _Matrix:
    """The per-process index, checked for freshness once per search."""
    matrix = getattr(base, "_kb_matrix", None)
    if matrix is None:
        matrix = _load_matrix()
        base._kb_matrix = matrix
    return matrix


def _semantic_numpy(base: Any, vector: np.ndarray) -> list[tuple[int, float]]:
    m = _matrix_for(base)
    if not len(m.article_ids):
        return []
    readable = _readable_ids(base)
    mask = np.isin(m.article_ids, readable)
    if not mask.any():
        return []
    ids = m.article_ids[mask]
    # cosine: stored rows are unit length, but pgvector normalises again; so do we
    vecs = m.vectors[mask]
    norms = np.linalg.norm(vecs, axis=1)
    norms[norms == 0] = 1.0
    sims = (vecs @ vector.astype(np.float32)) / norms / max(float(np.linalg.norm(vector)), 1e-12)
    # the best unit of each kind per article, vectorised: positions in the unique article ids
    articles, position = np.unique(ids, return_inverse=True)
    kinds = m.kinds[mask]
    best = np.full((len(articles), 2), -np.inf, dtype=np.float64)
    np.maximum.at(best, (position, kinds), sims.astype(np.float64))
    best[np.isinf(best)] = 0.0
    combined = (best[:, SHORT] + best[:, BODY]) / 2
    rounded = zip(articles.tolist(), np.round(combined, SCORE_DECIMALS).tolist(), strict=True)
    ranked = sorted((r for r in rounded if r[1] >= SEMANTIC_MIN), key=lambda r: (-r[1], r[0]))
    return ranked[:CANDIDATES]


# --- fusion --------------------------------------------------------------------------------------

SIGNALS = ("fts", "trigram", "semantic")


def fuse(rankings: dict[str, list[tuple[int, float]]]) -> list[Hit]:
    hits: dict[int, Hit] = {}
    for name, ranking in rankings.items():
        weight = SIGNAL_WEIGHTS.get(name, 1.0)
        for position, (pk, _score) in enumerate(ranking, start=1):
            hit = hits.setdefault(pk, Hit(article_id=pk, score=0.0))
            hit.score += weight / (RRF_K + position)
            hit.ranks[name] = position
    return sorted(hits.values(), key=lambda h: (-h.score, h.article_id))


def confidence_of(hits: list[Hit], rankings: dict[str, list[tuple[int, float]]]) -> float:
    """0..1: how sure the top hit is the answer (the bot's threshold is calibrated on it).

    How close the question is to the article (its semantic score), how far ahead of the next
    article it is semantically (when that signal agrees with the fusion), and how far ahead
    it is in the fusion. The weights were fitted on tests/kb/eval, with and without few-shot
    questions, for the most answers at 95% precision, off-topic questions counted as wrong.
    """
    if not hits:
        return 0.0
    top = hits[0]
    semantic = rankings.get("semantic", [])
    cosine = dict(semantic).get(top.article_id, 0.0)
    lead = 0.0
    if semantic and semantic[0][0] == top.article_id:
        lead = semantic[0][1] - (semantic[1][1] if len(semantic) > 1 else 0.0)
    runner = hits[1].score if len(hits) > 1 else 0.0
    margin = (top.score - runner) / top.score if top.score else 0.0
    value = 0.55 * max(0.0, cosine) + 2.0 * lead + 0.3 * margin
    return round(min(1.0, max(0.0, value)), 4)


# --- the entry point ---------------------------------------------------------------------------


def base_queryset(user: Any, *, locale: str, customer_facing: bool = False) -> tuple[Any, str]:
    """The articles `user` may read in `locale`; when that locale has none, every locale."""
    base = selectors.readable_articles(user, locale=locale, customer_facing=customer_facing)
    # the readable ids are needed by the in-process signals anyway: they answer "any?" too
    if locale and not len(_readable_ids(base)):
        return selectors.readable_articles(user, customer_facing=customer_facing), "simple"
    return base, search_config_for(locale)


def search(
    *,
    user: Any,
    query: str,
    locale: str = "en",
    limit: int = 5,
    signals: Sequence[str] = SIGNALS,
    prefix: bool = False,
    backend: str | None = None,
    with_snippets: bool = True,
    customer_facing: bool = False,
) -> SearchResult:
    started = time.perf_counter()
    query = (query or "").strip()[:500]
    base, config = base_queryset(user, locale=locale, customer_facing=customer_facing)
    rankings: dict[str, list[tuple[int, float]]] = {}
    if query:
        if "fts" in signals:
            rankings["fts"] = fts_ranking(base, query=query, config=config, prefix=prefix)
        if "trigram" in signals:
            rankings["trigram"] = trigram_ranking(base, query=query)
        if "semantic" in signals:
            rankings["semantic"] = semantic_ranking(base, query=query, backend=backend)
    hits = fuse(rankings)
    confidence = confidence_of(hits, rankings)
    hits = hits[: max(0, limit)]
    articles = Article.objects.only("id", "title", "slug", "locale", "body_text").in_bulk(
        [h.article_id for h in hits]
    )
    for hit in hits:
        hit.article = articles.get(hit.article_id)
    hits = [h for h in hits if h.article is not None]
    if with_snippets and hits:
        _attach_snippets(hits, query=query, config=config)
    took = (time.perf_counter() - started) * 1000
    return SearchResult(
        query=query, locale=locale, hits=hits, signals=rankings, confidence=confidence,
        took_ms=round(took, 2),
    )  # fmt: skip


def _attach_snippets(hits: list[Hit], *, query: str, config: str) -> None:
    """ts_headline around the matched words, escaped, with <mark> around them."""
    text = tsquery_text(query, prefix=False)
    ids = [h.article_id for h in hits]
    heads: dict[int, str] = {}
    if text:
        options = (
            f"StartSel={_START}, StopSel={_STOP}, MaxWords=28, MinWords=10, ShortWord=2,"
            ' MaxFragments=2, FragmentDelimiter=" … "'
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, ts_headline(%s::regconfig, body_text,"
                " to_tsquery(%s::regconfig, %s), %s)"
                " FROM kb_article WHERE id = ANY(%s)",
                [config, config, text, options, ids],
            )
            heads = dict(cursor.fetchall())
    for hit in hits:
        raw = heads.get(hit.article_id) or (hit.article.body_text if hit.article else "")
        if _START not in raw:
            words = (hit.article.body_text if hit.article else "").split()
            raw = " ".join(words[:28]) + (" …" if len(words) > 28 else "")
        hit.snippet = html.escape(raw).replace(_START, "<mark>").replace(_STOP, "</mark>")

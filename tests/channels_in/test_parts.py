"""Splitting a reply's text into messages a provider takes: every piece within the limit,
nothing lost, cut where a reader would (paragraph, then line, then word)."""

from __future__ import annotations

import random

import pytest

from channels_in.parts import split_text, text_parts


def assert_pieces_of(original: str, pieces: list[str], limit: int) -> None:
    """`pieces` are `original`, in order, cut only where whitespace was dropped, each at most
    `limit` characters."""
    assert pieces and all(len(piece) <= limit for piece in pieces)
    at = 0
    for piece in pieces:
        found = original.index(piece, at)
        assert original[at:found].strip() == "", f"text lost before {piece[:30]!r}"
        at = found + len(piece)
    assert original[at:].strip() == "", "text lost at the end"


def test_a_text_that_fits_is_one_piece_unchanged() -> None:
    assert split_text("Hello\n\nthere ", 13) == ["Hello\n\nthere "]
    assert split_text("", 10) == [""]


def test_it_cuts_between_paragraphs_before_lines_before_words() -> None:
    paragraph = "one two\nthree four\n\nfive six seven"
    assert split_text(paragraph, 25) == ["one two\nthree four", "five six seven"]
    lines = "one two three\nfour five six"
    assert split_text(lines, 20) == ["one two three", "four five six"]
    words = "one two three four five six"
    assert split_text(words, 15) == ["one two three", "four five six"]


def test_a_break_too_early_in_the_piece_gives_way_to_a_later_lesser_one() -> None:
    # a paragraph break 3 characters in would make a 3-character message
    text = "Hi,\n\n" + "word " * 10
    pieces = split_text(text, 20)
    assert pieces[0] == "Hi,\n\nword word word"
    assert_pieces_of(text, pieces, 20)


def test_a_word_longer_than_a_message_is_cut_hard() -> None:
    url = "https://example.com/" + "x" * 30
    assert split_text(url, 20) == [url[:20], url[20:40], url[40:]]
    assert split_text("é" * 25, 10) == ["é" * 10, "é" * 10, "é" * 5]


def test_a_break_right_at_the_limit_is_used() -> None:
    assert split_text("a" * 10 + " " + "b" * 5, 10) == ["a" * 10, "b" * 5]
    assert split_text("a" * 10 + "\n\n" + "b" * 5, 10) == ["a" * 10, "b" * 5]


@pytest.mark.parametrize("seed", range(30))
def test_random_texts_lose_nothing_and_respect_the_limit(seed: int) -> None:
    rng = random.Random(seed)
    tokens = ["word", "longerword", "a", " ", " ", "\n", "\n\n", "😀", "x" * 70, "  "]
    text = "".join(rng.choice(tokens) for _ in range(rng.randint(1, 400)))
    limit = rng.choice([2, 7, 40, 160])
    assert_pieces_of(text, split_text(text, limit), limit)


def test_a_limit_too_small_to_split_by_is_refused() -> None:
    with pytest.raises(ValueError, match="pieces of 1"):
        split_text("abc", 1)


def test_text_parts_keep_the_single_text_key_and_number_the_pieces() -> None:
    sent: list[str] = []

    def send(piece: str) -> str:
        sent.append(piece)
        return f"id{len(sent)}"

    [single] = text_parts("short", 10, send)
    assert (single.key, single.label, single.send()) == ("text", "the text", "id1")
    many = text_parts("alpha beta gamma delta", 11, send)
    assert [(p.key, p.label) for p in many] == [
        ("text:1", "part 1 of 2 of the text"),
        ("text:2", "part 2 of 2 of the text"),
    ]
    assert [p.send() for p in many] == ["id2", "id3"]
    assert sent == ["short", "alpha beta", "gamma delta"]

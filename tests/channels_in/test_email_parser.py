"""The email parser against real mail (the shared corpus), crafted edge cases and fuzzing.

No database: the parser is pure, so nothing here is marked ``django_db``.
"""

from __future__ import annotations

import os
import re
from datetime import UTC
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels_in.email.parser import (
    EmailParseError,
    ParsedEmail,
    html_to_text,
    parse_email,
    safe_filename,
    sanitize_html,
    split_quoted,
    token_from_message_id,
)

_DEFAULT_CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
CORPUS_DIR = Path(os.environ.get("HELPDESK_CORPUS_DIR") or _DEFAULT_CORPUS)
EMAIL_DIR = CORPUS_DIR / "email"


def _corpus_files() -> list[Path]:
    if not EMAIL_DIR.is_dir():
        return []
    return sorted(path for path in EMAIL_DIR.rglob("*") if path.is_file())


CORPUS_FILES = _corpus_files()

# Files in the corpus that are not email at all; rejecting them (with a reason) is correct.
EXPECTED_REJECTIONS = {
    "cpython/msg_19.txt": "no_headers",  # a bare mailing-list digest body, no header block
    "mail-ruby/.gitattributes": "no_headers",  # git metadata that lives next to the fixtures
    "mail-ruby/sample_output_multipart": "empty",  # zero-byte file
}
# Reasons that mean "this is not mail"; anything else (internal_error) is a parser bug.
ACCEPTABLE_REASONS = {"empty", "no_headers", "unparseable", "too_deep"}


def _corpus_bytes(relative: str) -> bytes:
    path = EMAIL_DIR / relative
    if not path.is_file():
        pytest.fail(f"corpus file {path} missing (set HELPDESK_CORPUS_DIR)")
    return path.read_bytes()


def _assert_well_formed(parsed: ParsedEmail) -> None:
    """Invariants every parse result must hold, whatever the input."""
    text_fields = [
        parsed.message_id,
        parsed.subject,
        parsed.from_name,
        parsed.from_address,
        parsed.reply_to,
        parsed.text,
        parsed.html,
        parsed.ticket_token,
        *parsed.in_reply_to,
        *parsed.references,
        *parsed.to,
        *parsed.cc,
        *parsed.warnings,
        *parsed.bounced_message_ids,
        *parsed.bounce_recipients,
        *parsed.headers.values(),
    ]
    for value in text_fields:
        assert isinstance(value, str)
        assert "\x00" not in value
        value.encode("utf-8")  # no lone surrogates: PostgreSQL would refuse them
    assert parsed.from_address == parsed.from_address.lower()
    assert all(addr == addr.lower() and "@" in addr for addr in (*parsed.to, *parsed.cc))
    assert "<script" not in parsed.html.lower()
    assert parsed.date is None or parsed.date.utcoffset() == UTC.utcoffset(None)
    for message_id in (parsed.message_id, *parsed.in_reply_to, *parsed.references):
        assert message_id == "" or (message_id.startswith("<") and message_id.endswith(">"))
    for attachment in parsed.attachments:
        assert attachment.filename
        assert "/" not in attachment.filename and "\\" not in attachment.filename
        assert len(attachment.filename) <= 200
        assert attachment.content_type == attachment.content_type.lower()
        assert isinstance(attachment.payload, bytes)
        assert not attachment.content_id.startswith("<")
    if parsed.quoted_text_start is not None:
        assert 0 < parsed.quoted_text_start < len(parsed.text)
    if parsed.forwarded_from is not None:
        assert "@" in parsed.forwarded_from[1]


def _mail(headers: str, body: str = "Hello there.\n") -> bytes:
    return (headers.strip("\n") + "\n\n" + body).replace("\n", "\r\n").encode("utf-8")


# ---------------------------------------------------------------------------------------------
# The whole corpus
# ---------------------------------------------------------------------------------------------


def test_it_finds_the_corpus() -> None:
    assert EMAIL_DIR.is_dir(), f"shared corpus not at {EMAIL_DIR} (set HELPDESK_CORPUS_DIR)"
    assert len(CORPUS_FILES) >= 200


@pytest.mark.parametrize(
    "path", CORPUS_FILES, ids=[str(p.relative_to(EMAIL_DIR)) for p in CORPUS_FILES]
)
def test_it_parses_or_rejects_every_corpus_file(path: Path) -> None:
    relative = str(path.relative_to(EMAIL_DIR))
    try:
        parsed = parse_email(path.read_bytes())
    except EmailParseError as exc:
        assert exc.reason in ACCEPTABLE_REASONS, f"{relative}: {exc}"
        assert EXPECTED_REJECTIONS.get(relative) == exc.reason, f"{relative}: {exc}"
        return
    assert relative not in EXPECTED_REJECTIONS
    _assert_well_formed(parsed)
    # Something a human or the pipeline can act on: text, files, a bounce, or a reason.
    assert parsed.text.strip() or parsed.attachments or parsed.is_bounce or parsed.warnings


# ---------------------------------------------------------------------------------------------
# Specific real messages
# ---------------------------------------------------------------------------------------------


def test_it_detects_the_gmail_bounce_and_its_recipient() -> None:
    parsed = parse_email(_corpus_bytes("flanker/bounce_gmail-invalid-address.eml"))
    assert parsed.is_bounce
    assert parsed.bounce_recipients == ("awfawfawfawfawfaw@someserverhere.com",)
    # Gmail pastes the original headers into the text body; that is the message we sent.
    assert parsed.bounced_message_ids == (
        "<CAKsfaBUUGqVZiaMrmH3TRPfq1odQPtM7Ey5YW1SgyJJRHtAjgw@mail.gmail.com>",
    )


def test_it_reads_a_delivery_status_report() -> None:
    parsed = parse_email(_corpus_bytes("mail-ruby/multipart_report_emails_report_530.eml"))
    assert parsed.is_bounce
    assert parsed.bounce_recipients == ("edwin@zzzzzzz.com",)
    assert parsed.bounced_message_ids == ("<200712232303.lBNN3jDq002941@mail12.rrrr.com.au>",)


def test_it_takes_the_bounced_id_from_an_attached_original() -> None:
    parsed = parse_email(_corpus_bytes("flanker/bounce_zed.eml"))
    assert parsed.is_bounce
    assert parsed.bounced_message_ids == ("<20090708054735.GC7578@example.com>",)


def test_it_does_not_call_a_postmaster_newsletter_a_bounce() -> None:
    parsed = parse_email(_corpus_bytes("flanker/long-links.eml"))
    assert parsed.from_address == "postmaster@example.com"
    assert not parsed.is_bounce


def test_it_decodes_quoted_printable_utf8() -> None:
    parsed = parse_email(_corpus_bytes("django-helpdesk/quoted_printable.eml"))
    assert parsed.subject == "Český test"
    assert parsed.text == "Tohle je test českých písmen odeslaných z gmailu."
    assert "českých" in parsed.html


def test_it_survives_the_undecodable_utf8_forward() -> None:
    parsed = parse_email(_corpus_bytes("django-helpdesk/utf-nondecodable.eml"))
    _assert_well_formed(parsed)
    assert parsed.subject.startswith("Fwd: Cyklozaměstnavatel")
    assert "Ahoj Johne" in parsed.text
    assert parsed.forwarded_from == ("Nikola", "nikola@example.cz")


def test_it_extracts_the_pdf_attachment() -> None:
    parsed = parse_email(_corpus_bytes("flanker/attached-pdf.eml"))
    pdfs = [a for a in parsed.attachments if a.content_type == "application/pdf"]
    assert len(pdfs) == 1
    assert pdfs[0].filename == "test.pdf"
    assert pdfs[0].payload.startswith(b"%PDF")
    assert not pdfs[0].oversized
    assert parsed.text == "Test - body content"


def test_it_drops_oversized_attachment_payloads() -> None:
    parsed = parse_email(_corpus_bytes("flanker/attached-pdf.eml"), max_attachment_bytes=100)
    pdf = next(a for a in parsed.attachments if a.content_type == "application/pdf")
    assert pdf.oversized
    assert pdf.payload == b""
    assert pdf.size > 100
    assert any("exceeds the limit" in w for w in parsed.warnings)


def test_it_treats_the_original_message_block_as_history_not_a_forward() -> None:
    # Despite its name this file is a reply-style message: the subject has no Fwd: prefix,
    # so the GitHub block is quoted history and the sender stays the customer.
    raw = _corpus_bytes("django-helpdesk/forwarded-message.eml")
    parsed = parse_email(raw)
    assert parsed.forwarded_from is None
    assert parsed.from_address == "sender@domain.tld"
    assert parsed.quoted_text_start is not None
    assert parsed.text[parsed.quoted_text_start :].startswith("-----Original Message-----")
    assert parsed.text[: parsed.quoted_text_start].strip() == "This is email body"

    forwarded = parse_email(raw.replace(b"Subject: Test", b"Subject: Fwd: Test", 1))
    assert forwarded.forwarded_from == ("GitHub", "noreply@github.com")


def test_it_uses_an_attached_message_as_the_forward_source() -> None:
    parsed = parse_email(_corpus_bytes("cpython/msg_46.txt"))
    assert parsed.forwarded_from == ("Dr. Sender", "sender@example.net")


def test_it_recovers_outlook_express_unquoted_boundaries() -> None:
    parsed = parse_email(_corpus_bytes("mail-ruby/mime_emails_raw_email_with_illegal_boundary.eml"))
    assert parsed.text.startswith("Hello\nThis is an outlook test")
    assert "outlook" in parsed.html


def test_it_normalises_obsolete_header_syntax() -> None:
    parsed = parse_email(_corpus_bytes("mail-ruby/rfc2822_example13.eml"))
    assert parsed.from_address == "jdoe@machine.example"
    assert parsed.subject == "Saying Hello"
    assert parsed.message_id == "<1234@local.machine.example>"
    assert parsed.date is not None and parsed.date.isoformat() == "1997-11-21T15:55:06+00:00"


def test_it_keeps_headers_after_a_junk_header_line() -> None:
    parsed = parse_email(_corpus_bytes("mail-ruby/plain_emails_raw_email_incorrect_header.eml"))
    assert parsed.from_address == "xxx@xxx.xxx"
    assert parsed.subject == "Stop adware/spyware once and for all."
    assert any("malformed header line" in w for w in parsed.warnings)


def test_it_decodes_legacy_charsets() -> None:
    japanese = parse_email(_corpus_bytes("mail-ruby/multi_charset_japanese_iso_2022.eml"))
    assert japanese.subject == "まみむめも"
    assert japanese.text == "すみません。"
    korean = parse_email(_corpus_bytes("mail-ruby/multi_charset_ks_c_5601-1987.eml"))
    assert korean.text == "스티해"


# ---------------------------------------------------------------------------------------------
# Crafted messages
# ---------------------------------------------------------------------------------------------

_HTML_ATTACK = """\
From: "Mallory" <Mallory@Example.COM>
To: support@helpdesk.example
Subject: Invoice
Date: Mon, 03 Jun 2024 10:15:00 +0200
Message-ID: <abc@example.com>
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<html><head><title>t</title><style>body{display:none}</style></head><body>
<p onclick="steal()">Please <a href="javascript:alert(1)">pay</a> or
<a href="https://pay.example/x">here</a>.</p>
<img src="https://tracker.example/p.gif" alt="pixel"><img src="cid:logo@x" alt="logo">
<iframe src="https://evil.example"></iframe><script>alert(document.cookie)</script>
<form action="https://evil.example"><input name="pw"></form>
<table><tr><td>Total</td><td>10 EUR</td></tr></table>
</body></html>
"""


def test_it_sanitises_html() -> None:
    parsed = parse_email(_mail(_HTML_ATTACK, ""))
    html = parsed.html.lower()
    for forbidden in ("<script", "onclick", "javascript:", "<iframe", "<form", "<input", "<style"):
        assert forbidden not in html
    # the tracking pixel is parked: nothing loads until an agent asks for remote images
    assert ' src="https://tracker.example' not in html
    assert 'data-remote-src="https://tracker.example/p.gif"' in html
    assert 'alt="pixel"' in html
    assert 'src="cid:logo@x"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
    assert "<table>" in html
    # The text comes from the HTML since there is no text/plain part.
    assert "Please pay or here (https://pay.example/x)." in parsed.text
    assert "alert" not in parsed.text and "display:none" not in parsed.text
    assert "Total 10 EUR" in parsed.text
    assert parsed.from_address == "mallory@example.com"
    assert parsed.from_name == "Mallory"
    assert parsed.date is not None and parsed.date.hour == 8 and parsed.date.tzinfo == UTC


@pytest.mark.parametrize(
    "markup",
    [
        '<img src="https://t.example/a.gif">',
        "<img alt=\"x\" SRC='http://t.example/a.gif' width=1>",
        '<img src="https://t.example/a.gif" onerror="x()">',
        "<p title='<img src=\"https://t.example/a.gif\">'>hi</p>",
        '&lt;img src="https://t.example/a.gif"&gt;',
        '<img src="javascript:alert(1)"><img src="data:image/svg+xml,<svg/>">',
    ],
)
def test_it_never_leaves_a_remote_image_that_loads_by_itself(markup: str) -> None:
    html = sanitize_html(markup)
    assert not re.search(r"<img[^>]*\ssrc=\"(https?:|javascript:|data:image/svg)", html), html
    assert "onerror" not in html


def test_it_exposes_sanitize_html_and_html_to_text() -> None:
    assert sanitize_html('<b onmouseover="x()">hi</b><script>x()</script>') == "<b>hi</b>"
    text = html_to_text(
        "<p>Hello</p><p>World<br>Line</p><script>x()</script>"
        "<blockquote>quoted<br>more</blockquote><ul><li>a</li><li>b</li></ul>"
    )
    assert text == "Hello\n\nWorld\nLine\n\n> quoted\n> more\n\n- a\n- b"


_PLAIN = """\
From: Customer <customer@example.org>
To: support@helpdesk.example
Subject: Printer broken
Message-ID: <m1@example.org>
"""


@pytest.mark.parametrize(
    ("extra_headers", "subject", "expected"),
    [
        ("Auto-Submitted: auto-replied", "Printer broken", True),
        ("Auto-Submitted: auto-generated; owner-email=x@y.z", "Printer broken", True),
        ("Auto-Submitted: no", "Printer broken", False),
        ("X-Autoreply: yes", "Printer broken", True),
        ("X-Auto-Response-Suppress: DR, OOF", "Printer broken", True),
        ("X-Auto-Response-Suppress: DR", "Printer broken", False),
        ("Precedence: auto_reply", "Printer broken", True),
        ("", "Out of Office: Printer broken", True),
        ("", "Automatic reply: Printer broken", True),
        ("", "Re: Printer broken", False),
    ],
)
def test_it_detects_auto_replies(extra_headers: str, subject: str, expected: bool) -> None:
    headers = _PLAIN.replace("Subject: Printer broken", f"Subject: {subject}") + extra_headers
    parsed = parse_email(_mail(headers))
    assert parsed.is_auto_reply is expected
    assert not parsed.is_bounce


@pytest.mark.parametrize(
    ("extra_headers", "expected"),
    [
        ("List-Id: Announcements <announce.example.org>", True),
        ("List-Unsubscribe: <mailto:leave@example.org>", True),
        ("Precedence: bulk", True),
        ("Precedence: list", True),
        ("", False),
    ],
)
def test_it_detects_bulk_mail(extra_headers: str, expected: bool) -> None:
    parsed = parse_email(_mail(_PLAIN + extra_headers))
    assert parsed.is_bulk is expected
    if extra_headers.startswith("List-Id"):
        assert parsed.headers["List-Id"] == "Announcements <announce.example.org>"


def test_it_extracts_the_ticket_token_from_the_subject() -> None:
    headers = _PLAIN.replace("Printer broken", "Re: Printer broken [ref:AbCdEfGh_jKl-0p9]")
    assert parse_email(_mail(headers)).ticket_token == "AbCdEfGh_jKl-0p9"
    too_short = _PLAIN.replace("Printer broken", "Re: [ref:AbCdEfGh]")
    assert parse_email(_mail(too_short)).ticket_token == ""


def test_it_extracts_the_ticket_token_from_references() -> None:
    headers = _PLAIN + (
        "In-Reply-To: <CAF=unrelated@mail.gmail.com>\n"
        "References: <hd.QwErTyUiOpAsDfGh.17@helpdesk.example>\n"
        " <CAF=unrelated@mail.gmail.com> <CAF=unrelated@mail.gmail.com>\n"
    )
    parsed = parse_email(_mail(headers))
    assert parsed.ticket_token == "QwErTyUiOpAsDfGh"
    assert parsed.references == (
        "<hd.QwErTyUiOpAsDfGh.17@helpdesk.example>",
        "<CAF=unrelated@mail.gmail.com>",
    )
    assert parsed.in_reply_to == ("<CAF=unrelated@mail.gmail.com>",)
    assert token_from_message_id("<hd.QwErTyUiOpAsDfGh.17@helpdesk.example>") == (
        "QwErTyUiOpAsDfGh"
    )
    assert token_from_message_id("<xhd.QwErTyUiOpAsDfGh.17@helpdesk.example>") == ""


def test_it_parses_addresses_and_encoded_headers() -> None:
    headers = (
        "From: =?utf-8?Q?J=C3=B6rg_M=C3=BCller?= <Joerg@Example.DE>\n"
        'To: "Support, Team" <support@helpdesk.example>, other@Example.org\n'
        "Cc: undisclosed-recipients:;\n"
        "Reply-To: <Replies@Example.DE>\n"
        "Subject: =?utf-8?B?w5xiZXI=?= =?utf-8?B?IGRpZQ==?=\n"
        "   =?bogus-charset?Q?_Gr=C3=B6=C3=9Fe?=\n"
        "Message-ID:   <x1@example.de>  \n"
        "Date: not a date\n"
    )
    parsed = parse_email(_mail(headers))
    assert parsed.from_name == "Jörg Müller"
    assert parsed.from_address == "joerg@example.de"
    assert parsed.to == ("support@helpdesk.example", "other@example.org")
    assert parsed.cc == ()
    assert parsed.reply_to == "replies@example.de"
    assert parsed.subject == "Über die Größe"
    assert parsed.message_id == "<x1@example.de>"
    assert parsed.date is None
    assert any("Date" in w for w in parsed.warnings)


def test_it_isolates_a_broken_part() -> None:
    raw = _mail(
        _PLAIN + 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b1"\n',
        "--b1\n"
        "Content-Type: text/plain; charset=x-no-such-charset\n\n"
        "Caf\xe9 is open.\n"
        "--b1\n"
        "Content-Type: application/octet-stream\n"
        "Content-Transfer-Encoding: base64\n"
        'Content-Disposition: attachment; filename="..\\\\..\\\\evil\u202egnp.exe"\n\n'
        "!!!not base64!!!\n"
        "--b1--\n",
    )
    parsed = parse_email(raw)
    assert parsed.text == "Café is open."
    assert len(parsed.attachments) == 1
    assert parsed.attachments[0].filename == "evilgnp.exe"
    assert parsed.warnings


def test_it_rejects_input_that_is_not_mail() -> None:
    with pytest.raises(EmailParseError) as empty:
        parse_email(b"")
    assert empty.value.reason == "empty"
    with pytest.raises(EmailParseError) as headerless:
        parse_email(b"just some words\nand more words\n")
    assert headerless.value.reason == "no_headers"
    with pytest.raises(EmailParseError) as wrong_type:
        parse_email("From: a@b.c\n\nhi")  # type: ignore[arg-type]
    assert wrong_type.value.reason == "not_bytes"
    assert isinstance(wrong_type.value, ValueError)


def test_it_makes_filenames_safe() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\me\\report.doc") == "report.doc"
    assert safe_filename("\u202egnp.exe") == "gnp.exe"
    assert safe_filename("bad\x00name\x1f.txt") == "badname.txt"
    assert safe_filename("", 3) == "attachment-3.bin"
    assert safe_filename("..", 2) == "attachment-2.bin"
    long_name = safe_filename("a" * 300 + ".pdf")
    assert len(long_name) == 200 and long_name.endswith(".pdf")


# ---------------------------------------------------------------------------------------------
# Quoted history
# ---------------------------------------------------------------------------------------------

_GMAIL_REPLY = (
    "Thanks, that fixed it!\n"
    "\n"
    "On Mon, 3 Jun 2024 at 10:15, Support Team <\n"
    "support@helpdesk.example> wrote:\n"
    "> Please try restarting the printer.\n"
    ">\n"
    "> Regards\n"
)


def test_it_splits_a_gmail_reply() -> None:
    new, quoted = split_quoted(_GMAIL_REPLY)
    assert new == "Thanks, that fixed it!"
    assert quoted.startswith("On Mon, 3 Jun 2024 at 10:15")
    assert quoted.endswith("> Regards\n")


def test_it_splits_outlook_and_original_message_blocks() -> None:
    outlook = (
        "Sure thing.\n\n________________________________\n"
        "From: Support <support@helpdesk.example>\nSent: Monday, June 3, 2024 10:15 AM\n"
        "To: Bob\nSubject: Re: x\n\nold text"
    )
    assert split_quoted(outlook)[0] == "Sure thing."
    original = "Yes.\n\n-----Original Message-----\nFrom: a@b.c\n\nold"
    assert split_quoted(original) == ("Yes.", "-----Original Message-----\nFrom: a@b.c\n\nold")


def test_it_does_not_fold_inline_answers_or_a_quote_only_message() -> None:
    inline = "On Mon, Bob wrote:\n> Is it on?\nYes it is.\n> Is it plugged in?\nYes.\n"
    assert split_quoted(inline) == (inline, "")
    only_quote = "> everything quoted\n> nothing new\n"
    assert split_quoted(only_quote) == (only_quote, "")
    assert split_quoted("No history here.") == ("No history here.", "")


def test_it_folds_a_signature_with_the_history_below_it() -> None:
    reply = (
        "Thanks, that fixed it!\n\n-- \nPat Customer\nHead of Printing, Example Ltd\n\n"
        "On Mon, 3 Jun 2024 at 10:15, Support wrote:\n> Please try restarting the printer.\n"
    )
    new, folded = split_quoted(reply)
    assert new == "Thanks, that fixed it!"
    assert folded.startswith("-- \nPat Customer") and folded.endswith("the printer.\n")
    phone = "Yes, tomorrow works.\n\nSent from my iPhone\n"
    assert split_quoted(phone) == ("Yes, tomorrow works.", "Sent from my iPhone\n")
    # through the parser, where trailing blanks are trimmed ("-- " arrives as "--")
    parsed = parse_email(_mail(_PLAIN, "Short answer.\n-- \nPat\n"))
    assert parsed.quoted_text_start is not None
    assert parsed.text[: parsed.quoted_text_start].strip() == "Short answer."
    assert parsed.text[parsed.quoted_text_start :] == "--\nPat"


def test_it_keeps_a_dash_line_that_is_not_a_signature() -> None:
    # a long text after "--" is the message itself, not a signature to hide
    body = "Before.\n--\n" + "".join(f"Step {n} of the procedure.\n" for n in range(20))
    assert split_quoted(body) == (body, "")
    # a signature line as the whole message folds nothing away
    assert split_quoted("Sent from my iPhone") == ("Sent from my iPhone", "")


def test_it_reports_where_the_quote_starts() -> None:
    parsed = parse_email(_mail(_PLAIN, _GMAIL_REPLY))
    assert parsed.quoted_text_start is not None
    assert parsed.text[: parsed.quoted_text_start].strip() == "Thanks, that fixed it!"


# ---------------------------------------------------------------------------------------------
# Fuzzing
# ---------------------------------------------------------------------------------------------

_HEADER_NAMES = [
    "From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
    "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
    "Content-ID", "Return-Path", "Auto-Submitted", "Precedence", "List-Id",
    "X-Failed-Recipients", "X-Auto-Response-Suppress", "Final-Recipient", "From ", "Subject  ",
]  # fmt: skip
_HEADER_VALUES = [
    'multipart/mixed; boundary="b1"', "multipart/alternative; boundary=b2",
    'multipart/report; report-type=delivery-status; boundary="b1"', "multipart/digest",
    "message/rfc822", "message/delivery-status", "text/rfc822-headers", "text/html; charset=utf-8",
    'text/plain; charset="x-unknown"', "text/plain; charset=utf-7; format=flowed; delsp=yes",
    "text/plain; charset=rot13", "text/plain; charset=idna", "base64", "quoted-printable",
    "x-uuencode", "8bit", "=?utf-8?B?w6k=?=", "=?bogus?Q?=FF=FE?=", "=?utf-8?B?!!!?=",
    "<a@b>", "<hd.abcdefghijklmnop.x@example.com>", "Name <a@b.c>, <>, ;;,", "<>",
    'attachment; filename="../../etc/passwd"', "attachment; filename*=utf-8''%e2%80%ae.exe",
    "inline; filename*0*=utf-8''a; filename*1=b", "rfc822; bounced@example.com",
    "Mon, 30 Jun 3609 15:33:50 +0600", "Thu, 1 Jan 1970 00:00:00 -0000", "auto-replied",
    "bulk", "All", "(comment (nested)) x@y", "\"unterminated", "=?", "[ref:ABCDEFGHIJKLMNOP]",
]  # fmt: skip
_BODY_CHUNKS = [
    "--b1\r\n", "--b1--\r\n", "--b2\r\n", "--b2--\r\n", "\r\n",
    "Content-Type: text/html\r\n\r\n<script>alert(1)</script><b onclick=x>hi</b><img src=http://x>\r\n",
    "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n",
    "Content-Type: message/rfc822\r\n\r\nFrom: inner@example.com\r\nSubject: inner\r\n\r\nhi\r\n",
    "Content-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; x@y.z\r\n\r\n",
    "begin 644 f.txt\r\n#86)C\r\n`\r\nend\r\n", "On Mon, X wrote:\r\n> quoted\r\n",
    "-----Original Message-----\r\nFrom: A <a@b.c>\r\nSent: now\r\n",
    "<blockquote><p>q</p></blockquote><pre>\r\n x</pre><a href='https://e.x'>l</a>",
]  # fmt: skip


@st.composite
def _header_ish_mail(draw: st.DrawFn) -> bytes:
    newline = draw(st.sampled_from([b"\r\n", b"\n", b"\r"]))
    value_strategy = st.one_of(
        st.sampled_from(_HEADER_VALUES).map(str.encode),
        st.text(max_size=60).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.binary(max_size=40),
    )
    lines = []
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        name = draw(st.one_of(st.sampled_from(_HEADER_NAMES), st.text(max_size=10)))
        value = draw(value_strategy)
        fold = draw(st.sampled_from([b"", newline + b" ", newline + b"\t"]))
        lines.append(name.encode("utf-8", "surrogatepass") + b":" + fold + b" " + value)
    body_parts = draw(
        st.lists(
            st.one_of(st.sampled_from(_BODY_CHUNKS).map(str.encode), st.binary(max_size=80)),
            max_size=12,
        )
    )
    separator = draw(st.sampled_from([newline + newline, newline, b""]))
    return newline.join(lines) + separator + b"".join(body_parts)


def _parse_fuzzed(raw: bytes) -> None:
    try:
        parsed = parse_email(raw)
    except EmailParseError as exc:
        assert exc.reason in ACCEPTABLE_REASONS, exc
        return
    _assert_well_formed(parsed)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_it_never_raises_anything_but_parse_errors_on_random_bytes(raw: bytes) -> None:
    _parse_fuzzed(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_header_ish_mail())
def test_it_never_raises_anything_but_parse_errors_on_header_ish_bytes(raw: bytes) -> None:
    _parse_fuzzed(raw)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000))
def test_it_never_crashes_the_text_helpers(text: str) -> None:
    new, quoted = split_quoted(text)
    assert text.startswith(new) and text.endswith(quoted)
    if quoted:
        assert new.strip()
    assert "<script" not in sanitize_html(text).lower()
    html_to_text(text).encode("utf-8")

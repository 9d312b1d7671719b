"""Classification rules one by one, on small mails: the parser is pure, so no database here."""

from __future__ import annotations

import json

import pytest

from channels_in.email.parser import parse_email
from channels_in.email.parser.addresses import same_person
from channels_in.email.parser.auth import aligned_pass, parse_authentication_results
from channels_in.email.parser.classify import machine_local_part


def mail(headers: str, body: str = "Hello, my order has not arrived.\n") -> bytes:
    base = "To: support@desk.test\nDate: Tue, 1 Dec 2026 10:00:00 +0000\n"
    if "message-id:" not in headers.lower():
        base += "Message-ID: <x1@customer.test>\n"
    return (headers.strip() + "\n" + base + "\n" + body).encode()


@pytest.mark.parametrize(
    "local, family",
    [
        ("MAILER-DAEMON", "mailer-daemon"),
        ("mailer_daemon", "mailer-daemon"),
        ("postmaster", "postmaster"),
        ("post_master", "postmaster"),
        ("Post.Master", "postmaster"),
        ("owner-users", "list server"),
        ("users-owner", "list server"),
        ("users-request", "list server"),
        ("users-bounces+pat=customer.test", "list server"),
        ("listserv", "list server"),
        ("majordomo", "list server"),
        ("bounce", "bounce"),
        ("bounces-1234", "bounce"),
        ("msprvs1=abc=bounces", "bounce"),
        ("no-reply", "no-reply"),
        ("noreply", "no-reply"),
        ("no_reply+orders", "no-reply"),
        ("do-not-reply", "no-reply"),
        ("donotreply", "no-reply"),
        ("shop-noreply", "no-reply"),
        ("autoreply", "auto-reply"),
        ("pat", ""),
        ("postmaster.general.hospital", "postmaster"),
        ("reply", ""),
        ("bouncer.jones", ""),
    ],
)
def test_sender_local_part_families(local: str, family: str) -> None:
    assert machine_local_part(local) == family


def test_a_list_servers_error_report_is_ignored_but_a_list_post_is_only_bulk() -> None:
    report = parse_email(
        mail(
            "From: support-ml-admin@ml.customer.test\nSubject: fml status report\n"
            "X-ML-Name: support-ml\nList-Help: <mailto:support-ml-ctl@ml.customer.test>",
            "you are not a member of this mailing list\n",
        )
    )
    assert report.ignore_reason.startswith("mailing-list server") and report.is_auto_reply
    from_list_address = parse_email(
        mail(
            "From: support-ml@ml.customer.test\nSubject: Error: post rejected\n"
            "X-ML-Name: support-ml\nX-ML-Count: 1483"
        )
    )
    assert from_list_address.ignore_reason == "mailing-list server's error report"
    post = parse_email(
        mail(
            "From: Pat <pat@customer.test>\nSubject: [support-ml:01484] Error when installing\n"
            "X-ML-Name: support-ml\nList-Id: <support-ml.ml.customer.test>"
        )
    )
    assert post.ignore_reason == "" and post.is_bulk and not post.is_auto_reply
    digest = parse_email(
        mail(
            "From: users-request@lists.customer.test\nSubject: Users Digest, Vol 3, Issue 9\n"
            "List-Id: <users.lists.customer.test>"
        )
    )
    assert digest.ignore_reason == "" and digest.is_bulk


@pytest.mark.parametrize(
    "headers",
    [
        "From: fml-admin@ml.customer.test\nSubject: Loop Alert: support-ml",
        "From: lists@customer.test\nSubject: mail loop detected\nX-Loop: help@customer.test",
        "From: robot@customer.test\nReturn-Path: <>\nSubject: Looping mail stopped",
    ],
)
def test_loop_alerts_are_ignored(headers: str) -> None:
    assert parse_email(mail(headers)).ignore_reason == "loop alert from a mail or list server"


def test_a_person_writing_about_a_loop_is_a_person() -> None:
    parsed = parse_email(mail("From: pat@customer.test\nSubject: Stuck in a loop on login"))
    assert parsed.ignore_reason == "" and not parsed.is_auto_reply


@pytest.mark.parametrize(
    "headers, expected",
    [
        ("X-Autorespond: yes", True),
        ("X-Autoresponder: true", True),
        ("X-Auto-Reply-From: pat@customer.test", True),
        ("X-FC-MachineGenerated: true", True),
        ("X-POST-MessageClass: 9; Autoresponder", True),
        ("Precedence: auto_reply", True),
        ("X-Autoreply: no", False),
    ],
)
def test_rfc_3834_relatives_mark_auto_replies(headers: str, expected: bool) -> None:
    parsed = parse_email(mail(f"From: pat@customer.test\nSubject: Order\n{headers}"))
    assert parsed.is_auto_reply is expected and not parsed.is_bounce


@pytest.mark.parametrize("subject", ["自動返信: ご注文", "Автоответ: заказ", "自动回复: 订单"])
def test_auto_reply_subjects_in_other_languages(subject: str) -> None:
    headers = f"From: pat@customer.test\nSubject: =?utf-8?b?{_b64(subject)}?="
    assert parse_email(mail(headers)).is_auto_reply


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "headers",
    [
        "List-Post: <mailto:users@lists.customer.test>",
        "List-Help: <mailto:users-request@lists.customer.test?subject=help>",
        "X-Mailman-Version: 3.3.9",
        "X-ML-Name: users",
        "Mailing-List: contact users-help@lists.customer.test; run by ezmlm",
        "X-BeenThere: users@lists.customer.test",
    ],
)
def test_any_list_header_makes_mail_bulk(headers: str) -> None:
    parsed = parse_email(mail(f"From: pat@customer.test\nSubject: Question\n{headers}"))
    assert parsed.is_bulk


def test_an_ses_complaint_is_an_abuse_complaint_and_a_delivery_is_no_ticket() -> None:
    complaint = {
        "notificationType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": "pat@customer.test"}]},
        "mail": {"messageId": "0102", "commonHeaders": {"messageId": "<hd.x@desk.test>"}},
    }
    headers = "From: no-reply@sns.amazonaws.com\nSubject: AWS Notification Message"
    parsed = parse_email(mail(headers, json.dumps(complaint) + "\n--\nunsubscribe footer\n"))
    assert parsed.ignore_reason == "abuse complaint (Amazon SES complaint notification)"
    envelope = {
        "Type": "Notification",
        "Message": json.dumps({**complaint, "notificationType": "Delivery"}),
    }
    delivered = parse_email(mail(headers, json.dumps(envelope)))
    assert delivered.ignore_reason == "delivery notification (Amazon SES)"


def test_a_jmrp_complaint_is_an_abuse_complaint() -> None:
    raw = (
        "From: staff@hotmail.com\nTo: abuse@desk.test\nSubject: complaint about message from "
        "192.0.2.10\nX-HmXmrOriginalRecipient: <pat@outlook.test>\nMessage-ID: <j@hotmail.com>\n"
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n--b\n'
        "Content-Type: text/plain\n\nThis is a complaint.\n--b\nContent-Type: message/rfc822\n\n"
        "From: support@desk.test\nSubject: Re: x\nMessage-ID: <hd.y@desk.test>\n\nHi\n--b--\n"
    )
    assert parse_email(raw.encode()).ignore_reason == "abuse complaint (Microsoft JMRP)"


def test_a_null_sender_auto_reply_is_no_bounce() -> None:
    parsed = parse_email(
        mail(
            "From: pat@customer.test\nReturn-Path: <>\nAuto-Submitted: auto-replied\n"
            "Subject: Away until Monday"
        )
    )
    assert parsed.is_auto_reply and not parsed.is_bounce


# --- Authentication-Results -----------------------------------------------------------------


def test_authentication_results_are_read_with_comments_and_versions() -> None:
    [dkim, spf, dmarc] = parse_authentication_results(
        [
            "mx.desk.test 1; dkim=pass (2048-bit key; unprotected) header.d=customer.test "
            'header.s="s1"; spf=pass (domain of pat@customer.test designates 192.0.2.1 as '
            "permitted sender) smtp.mailfrom=pat@customer.test; dmarc=pass (p=reject) "
            "header.from=customer.test"
        ]
    )
    assert (dkim.authserv_id, dkim.method, dkim.result) == ("mx.desk.test", "dkim", "pass")
    assert dkim.prop("header.d") == "customer.test" and dkim.prop("header.s") == "s1"
    assert spf.prop("smtp.mailfrom") == "pat@customer.test"
    assert dmarc.prop("header.from") == "customer.test"
    assert parse_authentication_results(["mx.desk.test; none"]) == ()


@pytest.mark.parametrize(
    "header, from_domain, expected",
    [
        ("mx.desk.test; dmarc=pass header.from=customer.test", "customer.test", "dmarc"),
        ("mx.desk.test; dkim=pass header.d=mail.customer.test", "customer.test", "dkim"),
        ("mx.desk.test; dkim=pass header.i=@customer.test", "customer.test", "dkim"),
        ("mx.desk.test; spf=pass smtp.mailfrom=bounce@customer.co.uk", "customer.co.uk", "spf"),
        ("mx.desk.test; dkim=pass header.d=esp.test", "customer.test", ""),
        ("mx.desk.test; spf=pass smtp.mailfrom=x@other.co.uk", "customer.co.uk", ""),
        ("mx.desk.test; dmarc=pass header.from=evil.test", "customer.test", ""),
        ("mx.desk.test; dmarc=fail header.from=customer.test", "customer.test", ""),
        ("mx.evil.test; dmarc=pass header.from=customer.test", "customer.test", ""),
        ("mx.desk.test.evil.test; dmarc=pass header.from=customer.test", "customer.test", ""),
    ],
)
def test_an_aligned_pass_counts_only_from_a_trusted_server(
    header: str, from_domain: str, expected: str
) -> None:
    results = parse_authentication_results([header])
    passed = aligned_pass(results, from_domain=from_domain, trusted_ids=["MX.desk.test"])
    assert passed.split("=", 1)[0] == expected if expected else passed == ""


def test_nothing_is_trusted_without_trusted_ids() -> None:
    results = parse_authentication_results(["mx.desk.test; dmarc=pass header.from=c.test"])
    assert aligned_pass(results, from_domain="c.test", trusted_ids=[]) == ""


@pytest.mark.parametrize(
    "headers, verdict",
    [
        ("X-Spam-Flag: YES", "x-spam-flag: YES"),
        ("X-Spam-Flag: NO", ""),
        ("X-Spam-Status: Yes, score=9.9 required=5.0", "x-spam-status: yes"),
        ("X-Spam-Status: No, score=9.9 required=12.0", ""),
        ("X-Spam-Score: 5.1", "x-spam-score: 5.1 (threshold 5)"),
        ("X-Spam-Score: 4.9", ""),
        ("X-Spam-Level: *****", "x-spam-level: 5 stars"),
        ("X-Spam-Level: **", ""),
        ("X-Spamd-Result: default: True [15.00 / 15.00]", "x-spamd-result: true"),
        ("X-Rspamd-Action: add header", "x-rspamd-action: add header"),
        ("X-MS-Exchange-Organization-SCL: 6", "x-ms-exchange-organization-scl: 6"),
        ("X-MS-Exchange-Organization-SCL: -1", ""),
        (
            "X-Forefront-Antispam-Report: CIP:192.0.2.1;SFV:SPM;H:x",
            "x-forefront-antispam-report: SFV:SPM",
        ),
        ("X-Barracuda-Spam-Status: Yes, SCORE=8.1", "x-barracuda-spam-status: yes"),
    ],
)
def test_spam_verdicts(headers: str, verdict: str) -> None:
    parsed = parse_email(mail(f"From: pat@customer.test\nSubject: Order\n{headers}"))
    assert parsed.spam_reason == verdict


@pytest.mark.parametrize(
    "from_name, from_address, reply_name, reply_address, expected",
    [
        ("Pat Customer", "pat@customer.test", "Pat Customer", "pat.home@customer.test", True),
        ("Pat Customer", "pat@customer.test", "pat  customer", "p@mail.customer.test", True),
        ("", "pat@customer.test", "", "pat@mail.customer.test", True),
        ("", "pat@customer.test", "", "pat+orders@customer.test", True),
        ("Pat Customer", "pat@customer.test", "Pat Customer", "pat@elsewhere.test", False),
        ("Pat Customer", "pat@customer.test", "Operations", "ops@customer.test", False),
        ("", "pat@customer.test", "", "ops@customer.test", False),
        ("Pat", "pat@customer.test", "Pat", "pat@customer.test.evil.test", False),
    ],
)
def test_when_a_reply_to_is_the_same_person(
    from_name: str, from_address: str, reply_name: str, reply_address: str, expected: bool
) -> None:
    assert (
        same_person(
            from_name=from_name,
            from_address=from_address,
            reply_name=reply_name,
            reply_address=reply_address,
        )
        is expected
    )

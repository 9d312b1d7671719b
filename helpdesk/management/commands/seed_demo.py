"""Demo data for `make run`, and bulk data for the benchmarks.

`seed_demo` builds a small, believable help desk: three teams, an admin, a supervisor, two
agents, organisations with their people, channel accounts, macros and a few hundred tickets
with their conversations spread over the last 60 days. Those tickets go through
`tickets.services`, so their audit events are the real ones; afterwards their timestamps are
moved back to the planned historical times, and agent replies get `sent` deliveries instead of
queued ones (nothing may leave by email while seeding).

`seed_demo --tickets N` loads N more tickets (with contacts, identities, one or two messages and
a `created` event each) with PostgreSQL COPY, skipping the services: a million tickets in a few
minutes, for the queue benchmarks. It needs the same base (teams, agents, accounts) and makes it
first when missing.

The command reads and writes `channels_in` rows (accounts, deliveries) although `tickets` imports
no other app: those imports are local to the functions that need them, so `tickets` itself stays
free of them.
"""

from __future__ import annotations

import json
import random
import secrets
import time
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group as AuthGroup
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, models, transaction
from django.db.models.signals import post_save
from django.utils import timezone

from tickets import services
from tickets.models import (
    TICKET_NUMBER_SEQUENCE,
    AgentProfile,
    Channel,
    Contact,
    Group,
    Identity,
    Macro,
    Message,
    Organisation,
    Tag,
    Ticket,
    TicketEvent,
)
from tickets.roles import Role
from tickets.search.index import documents_rebuild
from tickets.types import IncomingMessage

User = get_user_model()

DEMO_DOMAIN = "demo.helpdesk"
HISTORY_DAYS = 60
DEFAULT_DEMO_TICKETS = 300
# The base (people, accounts) is the same whatever --seed says, so a second run with another
# seed adds tickets, not a second cast of customers.
BASE_SEED = 20240601

# --- the cast -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    first: str
    last: str
    role: str  # "" for a customer
    groups: tuple[str, ...] = ()
    signature_title: str = ""


LOGINS = (
    DemoLogin(
        "admin@demo.helpdesk",
        "demo-admin",
        "Alex",
        "Morgan",
        Role.ADMIN,
        signature_title="Help desk administrator",
    ),
    DemoLogin(
        "sue@demo.helpdesk",
        "demo-supervisor",
        "Sue",
        "Whitfield",
        Role.SUPERVISOR,
        signature_title="Support team lead",
    ),
    DemoLogin(
        "ada@demo.helpdesk",
        "demo-agent",
        "Ada",
        "Okafor",
        Role.AGENT,
        ("Support", "Technical"),
        "Customer support & technical support",
    ),
    DemoLogin(
        "bob@demo.helpdesk",
        "demo-agent",
        "Bob",
        "Lindqvist",
        Role.AGENT,
        ("Billing",),
        "Billing team",
    ),
    DemoLogin("alice@example.com", "demo-customer", "Alice", "Martin", ""),
)

# Extra agents for the bulk path, so a million tickets are not shared by two people.
BULK_AGENTS = (
    ("priya", "Priya", "Natarajan", ("Support",)),
    ("tom", "Tom", "Becker", ("Support",)),
    ("lucia", "Lucía", "Herrera", ("Support", "Technical")),
    ("kenji", "Kenji", "Watanabe", ("Technical",)),
    ("grace", "Grace", "Mwangi", ("Technical",)),
    ("oskar", "Oskar", "Nilsson", ("Billing",)),
    ("fatou", "Fatou", "Diallo", ("Billing",)),
    ("marek", "Marek", "Kowalski", ("Support",)),
    ("hana", "Hana", "Yilmaz", ("Support", "Billing")),
    ("sean", "Seán", "Gallagher", ("Technical",)),
)

TEAMS = (
    ("Support", "Orders, shipping, accounts and general questions."),
    ("Billing", "Invoices, payments, refunds and plan changes."),
    ("Technical", "API, integrations, bugs and outages."),
)

ORGANISATIONS = (
    ("Acme Corp", "acme.example", "Key account since 2019; renews every March."),
    ("Globex", "globex.example", "Uses the API heavily (order sync from their ERP)."),
    ("Initech", "initech.example", "Invoices must show their PO number."),
    ("Hooli", "hooli.example", "SSO through their own SAML identity provider."),
    ("Vandelay Industries", "vandelay.example", ""),
)

# (first, last, organisation or "") — alice is the portal customer and is first.
PEOPLE = (
    ("Alice", "Martin", "Acme Corp"),
    ("Ravi", "Patel", "Acme Corp"),
    ("Hannah", "Schmidt", "Acme Corp"),
    ("Marcus", "Johnson", "Acme Corp"),
    ("Yuki", "Tanaka", "Acme Corp"),
    ("Olivia", "Brown", "Acme Corp"),
    ("Diego", "Fernández", "Acme Corp"),
    ("Fatima", "Al-Sayed", "Acme Corp"),
    ("Liam", "O'Connor", "Acme Corp"),
    ("Chloé", "Dubois", "Acme Corp"),
    ("Samuel", "Okoye", "Acme Corp"),
    ("Grace", "Kim", "Acme Corp"),
    ("Ingrid", "Larsen", "Globex"),
    ("Tomás", "Silva", "Globex"),
    ("Priya", "Sharma", "Globex"),
    ("Noah", "Williams", "Globex"),
    ("Mei", "Chen", "Globex"),
    ("Ahmed", "Hassan", "Globex"),
    ("Emily", "Davis", "Globex"),
    ("Lukas", "Novák", "Globex"),
    ("Sandra", "Lopez", "Initech"),
    ("Kevin", "Murphy", "Initech"),
    ("Aisha", "Bello", "Initech"),
    ("Daniel", "Cohen", "Initech"),
    ("Sofia", "Rossi", "Initech"),
    ("Jonas", "Berg", "Initech"),
    ("Nina", "Petrova", "Hooli"),
    ("Carlos", "Mendoza", "Hooli"),
    ("Zoe", "Taylor", "Hooli"),
    ("Ethan", "Wright", "Hooli"),
    ("Leila", "Karimi", "Hooli"),
    ("Arthur", "Pennington", "Vandelay Industries"),
    ("Maya", "Goldberg", "Vandelay Industries"),
    ("Oscar", "Lindgren", "Vandelay Industries"),
    ("Rosa", "Jiménez", "Vandelay Industries"),
    ("Ben", "Carter", ""),
    ("Julia", "Nowak", ""),
    ("Kwame", "Mensah", ""),
    ("Laura", "Bianchi", ""),
    ("Henrik", "Johansson", ""),
    ("Ana", "Costa", ""),
    ("Tariq", "Rahman", ""),
    ("Emma", "Wilson", ""),
    ("Jack", "Thompson", ""),
    ("Isabel", "García", ""),
    ("Hiroshi", "Sato", ""),
    ("Chiara", "Romano", ""),
    ("Patrick", "Byrne", ""),
    ("Lina", "Haddad", ""),
    ("Mateo", "Álvarez", ""),
    ("Sarah", "Goldstein", ""),
    ("Ivan", "Horvat", ""),
    ("Amara", "Nwosu", ""),
    ("Felix", "Wagner", ""),
    ("Nora", "Svensson", ""),
    ("Omar", "Farouk", ""),
    ("Ruth", "Adeyemi", ""),
    ("Victor", "Moreau", ""),
    ("Elena", "Popescu", ""),
    ("David", "Levi", ""),
)
PERSONAL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example")
CONTACT_NOTES = {
    "Ravi Patel": "Acme's IT lead; prefers a phone call for anything urgent.",
    "Ingrid Larsen": "Runs Globex's ERP integration. Very technical: skip the basics.",
    "Sandra Lopez": "Initech accounts payable: every invoice needs their PO number.",
    "Nina Petrova": "Hooli IT admin, owns their SAML setup.",
    "Ben Carter": "Long-time customer, had two damaged deliveries last year.",
}
# Fictional numbers only: 555-01xx in North America, 07700 900xxx in the UK.
US_AREAS = ("202", "312", "415", "617", "512", "206")
BULK_FIRST = tuple(
    sorted(
        {p[0] for p in PEOPLE}
        | {
            "Anna",
            "James",
            "Maria",
            "John",
            "Sophie",
            "Mohammed",
            "Lea",
            "Pedro",
            "Aiko",
            "Jan",
            "Chen",
            "Fiona",
            "Raj",
            "Ewa",
            "Mario",
            "Ines",
            "Paul",
            "Sara",
            "Ali",
            "Kate",
        }
    )
)
BULK_LAST = tuple(
    sorted(
        {p[1] for p in PEOPLE}
        | {
            "Smith",
            "Müller",
            "Garcia",
            "Nguyen",
            "Kowalczyk",
            "Andersson",
            "Rossi",
            "Singh",
            "Brown",
            "Ivanova",
            "Yamamoto",
            "Dubois",
            "Santos",
            "Kaya",
            "Walsh",
            "Eriksen",
            "Ortiz",
            "Fischer",
        }
    )
)


# --- the problems customers write about --------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    group: str
    tags: tuple[str, ...]
    priority: int
    subjects: tuple[str, ...]
    body: str  # the email / portal message
    short: str  # the same problem typed into a chat or a phone
    reply: str  # the agent's first answer
    followup: str  # the customer's answer to it
    resolve: str  # the agent's closing answer
    note: str  # what an agent writes for colleagues


P = Ticket.Priority
PROBLEMS: tuple[Problem, ...] = (
    Problem(
        "Support",
        ("login", "password"),
        P.NORMAL,
        ("Password reset email never arrives", "Can't reset my password", "Reset link not working"),
        "I asked for a password reset three times this morning but no email ever arrived. I checked "
        "spam and the promotions tab. Could you reset it for me or check what's going on?",
        "hi, i requested a password reset 3 times but the email never comes",
        "Sorry about that. Our mail log shows the reset emails were rejected by your mail server as "
        '"mailbox full". Could you free up some space, or tell us another address to send it to?',
        "Ah, that explains it. I've cleared out my inbox now, can you send it again?",
        "I've sent a fresh reset link; it's valid for one hour. Let us know if it doesn't show up.",
        "Postmark log: 3 bounces, 552 mailbox full. Not on our side.",
    ),
    Problem(
        "Support",
        ("login", "locked-account"),
        P.HIGH,
        ("Account locked after failed logins", "Locked out of my account"),
        "My account says it's locked after too many login attempts. I'm fairly sure I used the right "
        "password. I need to get in today to download the delivery notes for {order}.",
        "my account is locked, says too many attempts. need access today",
        "Your account was locked after 10 failed attempts from an IP we haven't seen before. To be "
        "safe, could you confirm the last order you placed with us?",
        "The last one was {order}, placed last week.",
        "Thanks, that matches. I've unlocked the account and ended the other sessions. Please set a "
        "new password the next time you log in.",
        "Failed attempts came from a VPN exit node. Verified by order number before unlocking.",
    ),
    Problem(
        "Support",
        ("shipping", "delay"),
        P.NORMAL,
        ("Order {order} still not delivered", "Where is my order?", "Delivery is {days} days late"),
        "I ordered on the 3rd and the confirmation said 3–5 working days. It's been {days} days and the "
        "tracking page hasn't changed since it left your warehouse. Order number is {order}.",
        "my order {order} hasn't arrived, it's been {days} days",
        "I've checked with the carrier: your parcel was held at their regional depot because of a "
        "damaged label. They've relabelled it and it's due to arrive within two working days.",
        "OK, thanks for checking. I'll wait and let you know if it doesn't show up.",
        "The carrier confirms delivery this morning, signed for at reception. Enjoy!",
        "Carrier ticket opened; relabelled at the depot. Offer a shipping refund if it slips again.",
    ),
    Problem(
        "Support",
        ("shipping", "returns", "wrong-item"),
        P.NORMAL,
        ("Received the wrong item", "Wrong product in my parcel ({order})"),
        "The parcel for {order} arrived today but it has a black USB-C dock in it instead of the "
        "silver one I ordered. The packing slip says silver too. How do I swap it?",
        "got the wrong colour dock in order {order}, ordered silver got black",
        "Sorry for the mix-up! I've emailed you a prepaid return label. As soon as the carrier scans "
        "it we'll dispatch the silver dock, you don't need to wait for the return to reach us.",
        "Label printed and dropped off at the post office, here's the receipt number: RC482913.",
        "The replacement dock shipped today, tracking is in your order history. Thanks for your patience.",
        "Picking error: bin B-14 had mixed stock. Reported to the warehouse.",
    ),
    Problem(
        "Support",
        ("shipping", "damaged"),
        P.HIGH,
        ("Package arrived damaged", "Broken on arrival - order {order}"),
        "The box for order {order} arrived crushed and the monitor screen is cracked. I took photos "
        "of the box and the screen before unpacking further. What do you need from me?",
        "my monitor arrived with a cracked screen, box was crushed. order {order}",
        "I'm sorry it arrived like that. Could you reply with the photos of the box and the screen? "
        "That's all we need to file the claim with the carrier and send a replacement.",
        "Photos attached. The outer box has a big dent on one corner.",
        "Thanks, claim filed. A replacement monitor ships tomorrow by express and the carrier will "
        "collect the damaged one when they deliver it.",
        "Third damaged monitor this month from the same carrier route. Flag to logistics.",
    ),
    Problem(
        "Support",
        ("shipping", "address-change"),
        P.NORMAL,
        ("Change delivery address", "Wrong shipping address on {order}"),
        "I just noticed I used my old address for {order}. I moved last month. Can you change it to "
        "my new address before it ships? I can send you the new address here.",
        "can i change the delivery address on order {order}? used my old one",
        "It hasn't left the warehouse yet, so we can change it. Please send the full new address "
        "including the postcode.",
        "It's 14 Harbour Lane, Flat 3, and the postcode is the same as the old one but ending 4QT.",
        "Done: {order} will now go to 14 Harbour Lane, Flat 3. You'll get a new tracking email when it ships.",
        "Address changed before pick. Customer verified by order email.",
    ),
    Problem(
        "Support",
        ("orders", "cancellation"),
        P.NORMAL,
        ("Please cancel order {order}", "Cancel my order"),
        "I placed {order} by mistake (I already ordered the same thing through my company account). "
        "Could you cancel it and refund the card?",
        "please cancel my order {order}, ordered twice by mistake",
        "No problem. {order} was cancelled before it was packed, and the full amount is back on its "
        "way to your card.",
        "Great, thank you. How long will the refund take?",
        "Refunds usually show up within 3–5 working days, depending on your bank. You'll get an email "
        "from us when it's processed.",
        "Duplicate of an order on the company account. Cancelled before pick.",
    ),
    Problem(
        "Support",
        ("login", "2fa"),
        P.HIGH,
        ("Lost phone, can't pass two-factor login", "2FA codes: new phone"),
        "My phone was stolen on Saturday and I had the authenticator app on it. I can't log in "
        "without the code. I have my recovery codes somewhere but can't find them. Please help.",
        "lost my phone with the authenticator app, can't log in",
        "Sorry to hear about your phone. To remove two-factor login we need to confirm it's you: "
        "please reply from the email on the account with the last four digits of the card on file.",
        "It's {last4}. I'm writing from the account email.",
        "Thanks, verified. I've turned off two-factor login; please set it up again on your new phone "
        "as soon as you're in, and store the new recovery codes somewhere safe.",
        "Identity verified via card last4 + account email. 2FA reset.",
    ),
    Problem(
        "Support",
        ("privacy", "account"),
        P.NORMAL,
        ("Delete my account and data (GDPR)", "Request to erase my personal data"),
        "Under the GDPR I'd like you to delete my account and all the personal data you hold about "
        "me. Please confirm when it's done.",
        "i want my account and data deleted please (gdpr)",
        "We can do that. Please note that invoices must be kept for 7 years for tax reasons, so those "
        "will be kept but anonymised. Would you like an export of your data first?",
        "No export needed, please go ahead.",
        "Your account and personal data have been deleted. Invoices are kept anonymised as required "
        "by law. This confirms your request is complete.",
        "Erasure request logged in the privacy register, 30-day deadline.",
    ),
    Problem(
        "Support",
        ("account",),
        P.LOW,
        ("Change the email address on my account", "Update login email"),
        "I'm leaving my current job and would like my account moved to my personal email address. "
        "How can I change the email I log in with?",
        "how do i change the email address i log in with?",
        "You can change it yourself under Settings → Profile → Email. We'll send a confirmation link "
        "to the new address and the change takes effect when you click it.",
        "I tried that but the confirmation link says it has expired.",
        "The link was valid for only 30 minutes; I've sent you a new one that's valid for 24 hours.",
        "Confirmation link TTL is short; known issue, product ticket exists.",
    ),
    Problem(
        "Support",
        ("account", "seats"),
        P.NORMAL,
        ("Add two more team members", "How do I invite colleagues?"),
        "We have two new people starting on Monday. How do I give them access to our {org} account, "
        "and will it change what we pay?",
        "how do i add 2 new colleagues to our account?",
        "An account owner can invite people under Settings → Team → Invite. Each extra seat on the "
        "{plan} plan is charged pro rata from the day they accept.",
        "I'm not the owner, it says I don't have permission.",
        "The account owner is the person who signed up; I've sent them a note asking them to invite "
        "your colleagues or make you an admin.",
        "Asked the account owner by email; customer isn't an admin.",
    ),
    Problem(
        "Support",
        ("how-to", "export"),
        P.LOW,
        ("Export order history to CSV", "Can I download all my orders?"),
        "For our year-end accounts I need a list of every order we placed this year, ideally as a "
        "spreadsheet. Is there a way to export that?",
        "is there a way to export all my orders as a spreadsheet?",
        "Yes: go to Orders, set the date filter to this year and click Export → CSV. The file includes "
        "order numbers, dates, totals and VAT.",
        "Found it, but the export only has 500 rows and we have more than that.",
        "You're right, the on-screen export stops at 500 rows. I've generated the full export for you "
        "and sent it to your email as a download link.",
        "500-row limit on CSV export: product ticket PRD-214.",
    ),
    Problem(
        "Support",
        ("email", "notifications"),
        P.LOW,
        ("Your emails go to my spam folder", "Notifications marked as spam"),
        "All your order confirmations and shipping notices end up in my spam folder. I have to check "
        "it every time. Is there something wrong with how you send them?",
        "all your emails go to my spam folder",
        "Thanks for letting us know. Our messages pass SPF and DKIM checks, so it's usually a filter "
        "rule. Could you add notifications@demo.helpdesk to your contacts and tell us if it helps?",
        "Added it, the last shipping notice went to my inbox. Thanks!",
        "Great, glad that did it. We'll keep an eye on our sender reputation as well.",
        "SPF/DKIM/DMARC all pass in the headers the customer sent.",
    ),
    Problem(
        "Support",
        ("shipping", "tracking"),
        P.NORMAL,
        ("Tracking number doesn't work", "Invalid tracking number for {order}"),
        'The tracking number in my shipping email for {order} says "not found" on the carrier\'s site. '
        "It shipped two days ago according to your email.",
        "tracking number for {order} says not found on the carrier site",
        "Carriers sometimes take 24–48 hours to show a parcel after pickup. I've checked, and it has "
        "now been scanned at their hub; the link should work from this evening.",
        "Still says not found this morning...",
        "The warehouse printed the label twice and the first number was cancelled. The correct tracking "
        "number is now in your order history, and the parcel is due tomorrow.",
        "Duplicate label printed; correct tracking added manually.",
    ),
    Problem(
        "Support",
        ("returns",),
        P.LOW,
        ("Return label request", "How do I return an item?"),
        "I'd like to return the keyboard from {order}; it's unused and still in the box. Can you send "
        "me a return label?",
        "i want to return a keyboard from order {order}, how?",
        "Of course. Returns are free within 30 days: I've emailed you a prepaid label. Once we receive "
        "the keyboard, the refund goes back to your card within 5 working days.",
        "Sent it back yesterday, tracking says it's been delivered to you.",
        "We've received the keyboard and your refund of {amount} has been processed.",
        "Unused return within 30 days, full refund approved.",
    ),
    Problem(
        "Support",
        ("presales",),
        P.LOW,
        ("Question before buying", "Does the Pro plan include phone support?"),
        "We're comparing help desk tools for a 25-person team. Does the {plan} plan include phone "
        "support, and can we pay yearly by invoice?",
        "does the {plan} plan include phone support? can we pay yearly?",
        "The {plan} plan includes phone support on weekdays from 8:00 to 18:00, and yes, yearly plans "
        "can be paid by invoice with 30-day terms.",
        "Great. Could you send us a quote for 25 seats, yearly?",
        "Quote sent to your email; it's valid for 30 days. I've also set up a 14-day trial for your team.",
        "Potential 25-seat yearly deal: copied sales.",
    ),
    Problem(
        "Billing",
        ("invoice", "vat"),
        P.NORMAL,
        ("Invoice {invoice} shows the wrong company name", "Wrong VAT number on invoice"),
        "Our latest invoice {invoice} still has our old company name and is missing our VAT number, so "
        "our accounts team can't book it. Can you reissue it?",
        "invoice {invoice} has our old company name and no vat number",
        "Sorry about that. Could you send us the exact company name and VAT number as they should "
        "appear? I'll update your billing profile so future invoices are right too.",
        "It should be {org} Ltd, VAT GB 123 4567 89.",
        "I've updated your billing details and reissued the invoice as {invoice}-R1; it's in your "
        "billing page and attached to this reply.",
        "Billing profile updated; credit note + reissue done in the billing system.",
    ),
    Problem(
        "Billing",
        ("charge", "duplicate"),
        P.HIGH,
        ("Charged twice this month", "Double charge on my card"),
        "My card statement shows two charges of {amount} on the same day for my subscription. I should "
        "only have been charged once. Please refund the second charge.",
        "i was charged twice {amount} this month!",
        "You're right, the payment was captured twice after a timeout on our side. I've refunded the "
        "duplicate charge of {amount}; it usually appears on your statement within 5 working days.",
        "Thanks. Will this happen again next month?",
        "No, the retry bug that caused it has been fixed. Sorry again for the trouble.",
        "Duplicate capture after gateway timeout. Refunded the second charge.",
    ),
    Problem(
        "Billing",
        ("refund",),
        P.NORMAL,
        ("Refund after cancelling", "Request a refund for unused months"),
        "I cancelled my yearly subscription last week after only two months because we're closing the "
        "shop. Is it possible to get a refund for the unused months?",
        "cancelled my yearly plan after 2 months, can i get a refund for the rest?",
        "Yearly plans aren't normally refundable, but since you're closing the business we can make an "
        "exception and refund the unused ten months.",
        "That would be very much appreciated, thank you.",
        "Done: {amount} has been refunded to the card ending {last4}. Best of luck with what comes next.",
        "Exception approved by Sue: business closure.",
    ),
    Problem(
        "Billing",
        ("payment", "card-declined"),
        P.HIGH,
        ("Renewal payment failed", "Card declined - account suspended?"),
        "We got an email that our renewal payment failed and the account will be suspended. The card "
        "is valid and has funds. What happened?",
        "our renewal failed, card declined, please don't suspend us",
        'The bank declined the payment with "authentication required" (3-D Secure). Could you '
        "retry it from Billing → Payment methods? Your bank will ask you to confirm it.",
        "Retried and confirmed in my banking app, it says paid now.",
        "I can see the payment went through; your account is in good standing and nothing was suspended.",
        "3DS soft decline; customer retried successfully.",
    ),
    Problem(
        "Billing",
        ("invoice",),
        P.LOW,
        ("Copy of invoice for accounting", "Need invoices for Q3"),
        "Our accountant needs copies of all our invoices from July to September. I can only find the "
        "latest one in the portal.",
        "where can i find my old invoices? need july to september",
        "All invoices are under Billing → Invoices; use the year filter at the top to see older ones. "
        "I've also emailed you a ZIP with the three invoices from July to September.",
        "Got the ZIP, thanks. The filter was hidden on my small screen.",
        "Glad you have them. I've passed the small-screen layout issue on to our product team.",
        "Billing page filter hidden under 768px: reported to product.",
    ),
    Problem(
        "Billing",
        ("plan", "upgrade"),
        P.NORMAL,
        ("Upgrading mid-cycle: how is it billed?", "Question about proration"),
        "We want to upgrade from Team to Business halfway through our billing month. Will we be "
        "charged the full Business price, or only for the rest of the month?",
        "if we upgrade mid month do we pay full price?",
        "You only pay the difference for the rest of the month: the upgrade is prorated to the day, "
        "and your next invoice is at the Business price.",
        "OK, we've upgraded. The charge was {amount}, does that look right?",
        "Yes, {amount} is the prorated difference for the remaining days. Your next full invoice will "
        "be at the Business rate.",
        "Explained proration; charge verified.",
    ),
    Problem(
        "Billing",
        ("plan", "downgrade"),
        P.LOW,
        ("Downgrade to a cheaper plan", "Can we move to the Starter plan?"),
        "We're a smaller team now and don't use the advanced reports any more. How can we move down to "
        "the Starter plan, and what happens to our data?",
        "how do we downgrade to starter? what happens to our data?",
        "You can switch under Billing → Plan; the change applies from your next renewal. All your data "
        "stays, only the advanced reports become read-only.",
        "Switched. Thanks for the clear answer.",
        "You're welcome! The Starter price applies from your renewal on the 1st.",
        "Downgrade scheduled at renewal.",
    ),
    Problem(
        "Billing",
        ("plan", "annual"),
        P.LOW,
        ("Switch to annual billing", "Yearly instead of monthly?"),
        "Is there a discount if we pay yearly instead of monthly? If so, we'd like to switch.",
        "is there a discount for paying yearly?",
        "Yes, yearly billing saves two months. I can switch you now and credit the rest of this month "
        "against the yearly invoice. Shall I go ahead?",
        "Yes please, go ahead.",
        "Done: you're on yearly billing, and this month's unused days were credited. The invoice is in "
        "your billing page.",
        "Monthly to yearly switch with credit.",
    ),
    Problem(
        "Billing",
        ("tax", "vat"),
        P.NORMAL,
        ("Tax exemption certificate", "We are VAT exempt: please remove VAT"),
        "We're a registered charity and exempt from VAT on these services. Where do I send our exemption "
        "certificate so future invoices don't include VAT?",
        "we're a charity and vat exempt, where do i send the certificate?",
        "You can reply to this message with the certificate as a PDF. Once we've checked it, future "
        "invoices will be issued without VAT.",
        "Certificate attached.",
        "The certificate is valid until the end of next year; exemption applied to your account from "
        "the next invoice.",
        "Exemption certificate checked and stored in the billing system.",
    ),
    Problem(
        "Billing",
        ("charge", "fraud"),
        P.URGENT,
        ("Unrecognised charge on my statement", "I did not authorise this payment"),
        "There's a charge of {amount} from you on my credit card that I don't recognise. I don't think "
        "I have an account with you. Please explain or refund it immediately.",
        "there's a {amount} charge from you on my card i don't recognise",
        "I understand the concern. I can't find an account with your email: could you send the last "
        "four digits of the card and the date of the charge so we can trace it?",
        "Card ending {last4}, charged on the 12th.",
        "The charge was made by a sign-up we've now confirmed as fraudulent. We've refunded {amount} "
        "and closed that account; we recommend you also tell your bank.",
        "Chargeback risk. Fraudulent signup, account closed, refunded proactively.",
    ),
    Problem(
        "Billing",
        ("discount",),
        P.LOW,
        ("Coupon code not applied", "Discount code didn't work at checkout"),
        "I used the code SPRING20 at checkout for {order} but the discount wasn't applied. The code was "
        "in your newsletter and should still be valid.",
        "coupon SPRING20 didn't apply to order {order}",
        "The code was valid, but it doesn't combine with items already on sale, which is why it didn't "
        "apply. I've refunded 20% of the full-price items in your order as a goodwill gesture.",
        "Oh I see, that's fair. Thanks for sorting it.",
        "You're welcome. The refund should reach you within a few days.",
        "Goodwill partial refund for the coupon confusion.",
    ),
    Problem(
        "Billing",
        ("invoice", "purchase-order"),
        P.NORMAL,
        ("Pay by bank transfer with a purchase order", "PO number on invoices"),
        "Our finance department can only pay by bank transfer against a purchase order. Can you issue "
        "the invoice with our PO number 4500021873 and 30 days terms?",
        "can we pay by bank transfer with a PO number?",
        "Yes. I've switched your account to invoice billing with 30-day terms and added PO 4500021873 "
        "to your billing profile; it'll be on every invoice until you change it.",
        "Perfect. Can you reissue {invoice} with the PO number on it?",
        "Reissued: {invoice} now shows the PO number. Our bank details are at the bottom of the invoice.",
        "Invoice billing enabled; PO stored on billing profile.",
    ),
    Problem(
        "Technical",
        ("api", "bug"),
        P.HIGH,
        ("API returns 500 when creating orders", "POST /v2/orders: Internal Server Error"),
        "Since this morning every POST to /v2/orders returns HTTP 500 with an empty body. Our "
        "integration hasn't changed. Request id from the last failure: req_8f2c41d9. This is blocking "
        "our order sync.",
        "your api returns 500 on every POST /v2/orders since this morning",
        "Thanks for the request id. We can see the errors: orders with a line item that has no SKU hit "
        "a bug in this morning's release. Could you confirm whether your items have SKUs?",
        "Some of our custom items don't have a SKU, yes.",
        "A fix went out at 14:20 UTC; orders without SKUs are accepted again. Could you retry the "
        "failed ones? Sorry for the disruption.",
        "Regression in release 2024.11.2: null SKU dereference. Hotfixed.",
    ),
    Problem(
        "Technical",
        ("api", "rate-limit"),
        P.NORMAL,
        ("Getting 429 Too Many Requests", "API rate limit too low for our sync"),
        "Our nightly sync started failing with 429 Too Many Requests. We send about 40 requests per "
        "second for a few minutes. What's the limit, and can it be raised?",
        "getting lots of 429 errors from the api during our sync",
        "The limit on your plan is 20 requests per second per token. The Retry-After header tells you "
        "how long to wait. Could your sync use the bulk endpoint instead? It takes 100 items per request.",
        "We switched to the bulk endpoint and the sync finished in 3 minutes without errors.",
        "Excellent. That also leaves you plenty of headroom as you grow.",
        "Suggested /bulk; no limit increase needed.",
    ),
    Problem(
        "Technical",
        ("webhooks",),
        P.HIGH,
        ("Webhooks stopped arriving", "No webhook deliveries since Friday"),
        "Our endpoint hasn't received any order.created webhooks since Friday evening. The endpoint is "
        "up and returns 200 when we test it with curl.",
        "we stopped receiving your webhooks since friday",
        "Your endpoint's TLS certificate expired on Friday at 18:02, so our deliveries failed and the "
        "webhook was paused after 50 failures. Once the certificate is renewed you can re-enable it.",
        "Renewed the certificate and re-enabled it. Can the missed events be resent?",
        "Yes: I've replayed all 312 events since Friday 18:00; your endpoint acknowledged every one.",
        "Endpoint cert expired; webhook auto-paused. Replayed from the event log.",
    ),
    Problem(
        "Technical",
        ("sso", "saml"),
        P.URGENT,
        ("SSO login fails for the whole team", "SAML error: signature validation failed"),
        'Nobody at {org} can log in with SSO since this morning. The error page says "SAML response '
        'signature validation failed". We rotated our IdP signing certificate yesterday.',
        "nobody can log in with sso, says saml signature validation failed",
        "That's the certificate rotation: we still have your old signing certificate. Could you upload "
        "the new one under Settings → Security → SSO, or send me its metadata URL?",
        "Metadata URL: https://idp.{domain}/saml/metadata",
        "Updated from your metadata; SSO logins are working again. We now refresh it daily from that "
        "URL so the next rotation won't break anything.",
        "IdP cert rotated without updating SP. Enabled metadata auto-refresh.",
    ),
    Problem(
        "Technical",
        ("mobile", "android", "bug"),
        P.HIGH,
        ("Android app crashes on start after update", "App closes immediately since version 5.2"),
        "Since updating the Android app to 5.2 it crashes as soon as I open it. I've tried restarting "
        "my phone and clearing the cache. Pixel 7, Android 14.",
        "the android app crashes every time i open it since the update",
        "Thanks for the details. It's a crash we've seen on Android 14 when the app restores an old "
        "session. A fix is in review; until then, reinstalling the app avoids it.",
        "Reinstalling worked, thanks.",
        "Version 5.2.1 with the fix is now in the Play Store, so it won't come back.",
        "Crash: session restore NPE on API 34. Fixed in 5.2.1.",
    ),
    Problem(
        "Technical",
        ("import", "bug"),
        P.NORMAL,
        ("CSV import fails with an encoding error", "Import: invalid byte sequence"),
        'Importing our customer list fails at row 214 with "invalid byte sequence for encoding UTF8". '
        "The file was exported from Excel.",
        "csv import fails at row 214 with an encoding error",
        'Excel often saves CSVs as Windows-1252. Could you save it again as "CSV UTF-8" and retry? '
        "Row 214 probably has an accented name.",
        "Saved as CSV UTF-8 and it imported all 1,830 rows.",
        "Great! We're also adding automatic encoding detection to the importer.",
        "Windows-1252 file. Product ticket to detect encodings.",
    ),
    Problem(
        "Technical",
        ("performance",),
        P.NORMAL,
        ("Dashboard takes over a minute to load", "Reports page very slow"),
        "The reports dashboard takes more than a minute to load for us, and sometimes times out. It "
        "used to be instant. We have about two years of data.",
        "the reports dashboard takes over a minute to load",
        'We can reproduce it: the "all time" range on your account scans a lot of data. Setting the '
        "default range to the last 90 days should make it load in a second or two.",
        "Changed the default range and it's fast now. We still need all-time figures sometimes though.",
        "We've rolled out pre-computed monthly totals, so all-time reports load in a couple of seconds now too.",
        "Slow query on all-time range; fixed by rollups.",
    ),
    Problem(
        "Technical",
        ("integration", "slack"),
        P.LOW,
        ("Slack integration disconnected", "No more notifications in Slack"),
        "We stopped getting ticket notifications in our #support Slack channel. The integration page "
        'says "token revoked".',
        "slack notifications stopped, says token revoked",
        "The Slack token was revoked when the person who connected it left your Slack workspace. "
        "Someone else with admin rights can reconnect it under Settings → Integrations → Slack.",
        "Reconnected, notifications are back.",
        "Great. I'd suggest connecting it from a shared admin account so it survives staff changes.",
        "Token revoked on user deactivation in their Slack.",
    ),
    Problem(
        "Technical",
        ("api", "authentication"),
        P.NORMAL,
        ("API calls return 401 Unauthorized", "API token stopped working"),
        "Our integration suddenly gets 401 Unauthorized on every call. We didn't change the token. "
        'Error: {{"error": "invalid_token"}}.',
        "api gives 401 invalid_token, we didn't change anything",
        "Tokens created before March expire after one year, and yours expired yesterday. You can create "
        "a new one under Settings → API; the new tokens don't expire unless you set a date.",
        "New token works. Could you warn us next time before one expires?",
        "Good idea: we now email account owners 30 days before a token expires.",
        "Token expiry. Suggested non-expiring tokens.",
    ),
    Problem(
        "Technical",
        ("bug", "reports", "timezone"),
        P.LOW,
        ("Times in reports are an hour off", "Wrong timezone in exported reports"),
        "All times in the exported reports are one hour behind. Our account timezone is Europe/Berlin. "
        "It started after the clocks changed last weekend.",
        "report times are an hour off since the clocks changed",
        "You're right, the export used a fixed UTC offset instead of your timezone. We've reproduced it.",
        "Any timeline for the fix? Our weekly report goes out on Monday.",
        "The fix is live: exports now use your account timezone, including daylight saving changes. "
        "Re-running last week's export gives the right times.",
        "Export used fixed offset. Fixed to use zoneinfo.",
    ),
    Problem(
        "Technical",
        ("mobile", "ios", "notifications"),
        P.NORMAL,
        ("No push notifications on iPhone", "iOS app: notifications not received"),
        "I'm not getting any push notifications from the iOS app, although they're allowed in the "
        "iPhone settings. My colleague with an Android phone gets them.",
        "not getting push notifications on my iphone",
        'Could you check in the app under Profile → Notifications that "Push" is on? After the last '
        "update some people found it had been switched off.",
        "It was off! Turned it on, but still nothing.",
        "We found your device's push token was stale. Logging out and back in registers a new one; "
        "after that test notifications arrive.",
        "Stale APNs token; re-register on login.",
    ),
    Problem(
        "Technical",
        ("sync", "bug"),
        P.HIGH,
        ("Orders missing after sync", "Some orders didn't sync from our shop"),
        "About 30 orders from yesterday are in our shop but not in your system. The sync log shows "
        "success. Order {order} is one of the missing ones.",
        "about 30 orders didn't sync from our shop yesterday, e.g. {order}",
        "The missing orders were created during a 4-minute window when the shop's API returned empty "
        'pages, and our sync took that as "no more orders". I\'m re-running the sync for yesterday.',
        "Thanks, I see them now. Can this be prevented?",
        "All 31 orders are now synced. We've changed the sync to retry empty pages before stopping, so "
        "it won't skip orders again.",
        "Shop API returned empty pages mid-pagination. Sync now retries.",
    ),
)

NUDGES = (
    "Any update on this?",
    "Hello? Still waiting to hear back on this.",
    "Just following up on my message below, this is getting urgent for us.",
    "Hi again, is anyone looking at this?",
)
FOLLOW_UP_REPLY = (
    "Thanks for the update. We're on it and will get back to you as soon as we know more."
)
GREETINGS = ("Hi,", "Hello,", "Hi there,", "Dear support team,", "Good morning,")
SIGN_OFFS = ("Thanks,", "Best regards,", "Kind regards,", "Cheers,", "Many thanks,")
PLANS = ("Team", "Business", "Pro")

MACROS = (
    (
        "Ask for order number",
        "Thanks for getting in touch. Could you send us your order number? You'll find it in your "
        'order confirmation email, it starts with "A-". With it we can look into this straight away.',
        Ticket.Status.PENDING,
        None,
        "",
    ),
    (
        "Solved: thanks",
        "Glad we could help! I'm marking this as solved. If anything else comes up, just reply to this "
        "message and the ticket opens again.",
        Ticket.Status.SOLVED,
        None,
        "",
    ),
    (
        "Escalate to Technical",
        "I've passed this on to our technical team, who will get back to you shortly.",
        "",
        Ticket.Priority.HIGH,
        "escalated",
    ),
    (
        "Refund issued",
        "We've issued the refund; it usually shows on your statement within 5–10 working days, "
        "depending on your bank.",
        Ticket.Status.SOLVED,
        None,
        "refund",
    ),
    (
        "Ask for screenshots and steps",
        "To look into this, could you send us a screenshot of the error and the steps that lead to it "
        "(what you clicked, and roughly when)? Your browser and version help too.",
        Ticket.Status.PENDING,
        None,
        "needs-info",
    ),
)

# Typed channel options (channels_in.config) that load cleanly. Secrets are named, never set:
# the demo accounts hold history and receive nothing until someone deploys real credentials.
DEMO_CONFIGS: dict[str, dict[str, Any]] = {
    "chat": {"title": "Chat with Demo Helpdesk", "welcome": "Hi! How can we help today?"},
    "telegram": {
        "bot_token_env": "DEMO_TELEGRAM_BOT_TOKEN",
        "webhook_secret_env": "DEMO_TELEGRAM_WEBHOOK_SECRET",
    },
    "whatsapp": {
        "phone_number_id": "100000000000001",
        "access_token_env": "DEMO_WHATSAPP_ACCESS_TOKEN",
        "app_secret_env": "DEMO_WHATSAPP_APP_SECRET",
        "verify_token_env": "DEMO_WHATSAPP_VERIFY_TOKEN",
    },
    "sms": {
        "account_sid": "AC00000000000000000000000000000000",
        "auth_token_env": "DEMO_TWILIO_AUTH_TOKEN",
        "from_number": "+14155550101",
    },
    "phone": {
        "account_sid": "AC00000000000000000000000000000000",
        "auth_token_env": "DEMO_TWILIO_AUTH_TOKEN",
        "greeting": "Thank you for calling Demo Helpdesk.",
        "menu": [
            {"digit": "1", "label": "Orders and shipping", "group": "Support"},
            {"digit": "2", "label": "Billing", "group": "Billing"},
        ],
    },
}

# channel -> weight among the demo tickets
CHANNEL_WEIGHTS = (
    (Channel.EMAIL, 46),
    (Channel.CHAT, 12),
    (Channel.WHATSAPP, 10),
    (Channel.TELEGRAM, 6),
    (Channel.SMS, 6),
    (Channel.PHONE, 8),
    (Channel.WEB, 12),
)
# which identity kind answers on each channel (the customer's side of the conversation)
IDENTITY_FOR_CHANNEL: dict[str, str] = {
    Channel.EMAIL: Identity.Kind.EMAIL,
    Channel.WEB: Identity.Kind.EMAIL,
    Channel.CHAT: Identity.Kind.CHAT,
    Channel.WHATSAPP: Identity.Kind.WHATSAPP,
    Channel.TELEGRAM: Identity.Kind.TELEGRAM,
    Channel.SMS: Identity.Kind.PHONE,
    Channel.PHONE: Identity.Kind.PHONE,
}
CONVERSATIONAL = {Channel.CHAT, Channel.WHATSAPP, Channel.TELEGRAM, Channel.SMS}


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isascii() and (c.isalnum())).lower()


def _weighted(rng: random.Random, pairs: Sequence[tuple[Any, float]]) -> Any:
    total = sum(w for _, w in pairs)
    pick = rng.random() * total
    for value, weight in pairs:
        pick -= weight
        if pick < 0:
            return value
    return pairs[-1][0]


# --- the base: teams, people, accounts ----------------------------------------------------------


@dataclass
class Person:
    contact: Contact
    first: str
    last: str
    org: str
    identities: dict[str, str] = field(default_factory=dict)  # kind -> value


@dataclass
class Base:
    groups: dict[str, Group]
    users: dict[str, Any]  # username -> user
    people: list[Person]
    accounts: dict[str, Any]  # channel -> ChannelAccount (email: by group name "email:Billing")
    alice: Person
    teams: dict[str, tuple[str, ...]]  # username -> the teams (Groups) the agent belongs to

    def email_account(self, group: str) -> Any:
        """Mail for a team without its own address (Technical) arrives at support@."""
        return self.accounts.get(f"email:{group}") or self.accounts["email:Support"]

    def members(self, group: str) -> list[Any]:
        return [self.users[name] for name, teams in self.teams.items() if group in teams]


def _login_user(login: DemoLogin) -> Any:
    from allauth.account.models import EmailAddress

    user = User.objects.filter(email__iexact=login.email).first()
    if user is None:
        username = login.email.split("@")[0]
        if User.objects.filter(username=username).exists():
            username = login.email
        user = User(
            username=username,
            email=login.email,
            first_name=login.first,
            last_name=login.last,
            is_staff=login.role == Role.ADMIN,
            is_superuser=login.role == Role.ADMIN,
        )
        user.set_password(login.password)
        user.save()
    if login.role:
        user.groups.add(AuthGroup.objects.get(name=login.role))
    EmailAddress.objects.get_or_create(
        user=user, email=login.email.lower(), defaults={"verified": True, "primary": True}
    )
    return user


def _agent_profile(user: Any, display_name: str, title: str) -> None:
    AgentProfile.objects.update_or_create(
        user=user,
        defaults={
            "display_name": display_name,
            "signature": f"{display_name}\n{title}\nDemo Helpdesk · support@{DEMO_DOMAIN}",
        },
    )


def _phone(index: int) -> str:
    if index % 3 == 2:
        return f"+447700900{100 + index:03d}"
    return f"+1{US_AREAS[index % len(US_AREAS)]}55501{index % 100:02d}"


DEMO_SLA_TARGETS = {
    "urgent": {"first_reply": 60, "next_reply": 120, "resolution": 480},
    "high": {"first_reply": 240, "next_reply": 480, "resolution": 1440},
    "normal": {"first_reply": 480, "next_reply": 960, "resolution": 2880},
    "low": {"first_reply": 1440, "next_reply": 2880, "resolution": 10080},
}


def seed_sla_policy() -> None:
    """A catch-all SLA policy in calendar time (so the demo queue shows countdown badges),
    and every open ticket replayed against it. Idempotent."""
    from tickets.sla_models import SlaPolicy
    from tickets.sla_services import sla_recompute_tickets

    SlaPolicy.objects.get_or_create(
        name="Standard", defaults={"position": 100, "targets": DEMO_SLA_TARGETS}
    )
    sla_recompute_tickets(only_open=True)


def build_base(*, with_bulk_agents: bool = False) -> Base:
    """Create (or find) everything tickets hang on. Idempotent: a second run adds nothing."""
    from channels_in.models import ChannelAccount, ChannelKind

    rng = random.Random(BASE_SEED)
    groups = {
        name: Group.objects.get_or_create(name=name, defaults={"description": desc})[0]
        for name, desc in TEAMS
    }
    users: dict[str, Any] = {}
    teams: dict[str, tuple[str, ...]] = {}
    for login in LOGINS:
        user = _login_user(login)
        for name in login.groups:
            groups[name].members.add(user)
        if login.role:
            _agent_profile(user, f"{login.first} {login.last}", login.signature_title)
        users[login.email.split("@")[0]] = user
        teams[login.email.split("@")[0]] = login.groups
    if with_bulk_agents:
        agent_role = AuthGroup.objects.get(name=Role.AGENT)
        for username, first, last, agent_teams in BULK_AGENTS:
            email = f"{username}@{DEMO_DOMAIN}"
            user = User.objects.filter(email__iexact=email).first()
            if user is None:
                user = User(
                    username=f"{username}.agent", email=email, first_name=first, last_name=last
                )
                user.set_unusable_password()  # bench agents never log in
                user.save()
            user.groups.add(agent_role)
            for name in agent_teams:
                groups[name].members.add(user)
            _agent_profile(user, f"{first} {last}", "Support team")
            users[username + ".agent"] = user
            teams[username + ".agent"] = agent_teams

    orgs = {}
    for name, domain, notes in ORGANISATIONS:
        orgs[name] = Organisation.objects.get_or_create(
            name=name, defaults={"domains": domain, "notes": notes}
        )[0]
    org_domain = {name: domain for name, domain, _ in ORGANISATIONS}

    people: list[Person] = []
    for index, (first, last, org) in enumerate(PEOPLE):
        identities: dict[str, str] = {}
        if index == 0:
            identities[Identity.Kind.EMAIL] = "alice@example.com"
        elif org or index % 7 != 3:  # a few independents only ever text or call
            domain = org_domain[org] if org else PERSONAL_DOMAINS[index % len(PERSONAL_DOMAINS)]
            identities[Identity.Kind.EMAIL] = f"{_ascii(first)}.{_ascii(last)}@{domain}"
        if rng.random() < 0.4 or Identity.Kind.EMAIL not in identities:
            identities[Identity.Kind.PHONE] = _phone(index)
            if rng.random() < 0.6:
                identities[Identity.Kind.WHATSAPP] = identities[Identity.Kind.PHONE]
        if rng.random() < 0.15 or (Identity.Kind.EMAIL not in identities and index % 2):
            identities[Identity.Kind.TELEGRAM] = str(rng.randrange(10_000_000, 999_999_999))
        if rng.random() < 0.25:
            identities[Identity.Kind.CHAT] = f"visitor-{rng.getrandbits(48):012x}"
        name = f"{first} {last}"
        kinds = list(identities)
        contact = services.contact_resolve(kind=kinds[0], value=identities[kinds[0]], name=name)
        for kind in kinds[1:]:
            services.identity_add(contact=contact, kind=kind, value=identities[kind])
        changed = []
        if org and contact.organisation_id != orgs[org].pk:
            contact.organisation = orgs[org]
            changed.append("organisation")
        if name in CONTACT_NOTES and not contact.notes:
            contact.notes = CONTACT_NOTES[name]
            changed.append("notes")
        if index == 0 and contact.user_id is None:
            contact.user = users["alice"]
            changed.append("user")
        if changed:
            contact.save(update_fields=changed)
        people.append(
            Person(contact, first, last, org, {i.kind: i.value for i in contact.identities.all()})
        )

    support = groups["Support"]
    specs: tuple[tuple[str, str, str, Group, dict[str, Any]], ...] = (
        ("support", ChannelKind.EMAIL, f"support@{DEMO_DOMAIN}", groups["Support"], {}),
        ("billing", ChannelKind.EMAIL, f"billing@{DEMO_DOMAIN}", groups["Billing"], {}),
        ("website-chat", ChannelKind.CHAT, "", support, DEMO_CONFIGS["chat"]),
        ("telegram", ChannelKind.TELEGRAM, "@DemoHelpdeskBot", support, DEMO_CONFIGS["telegram"]),
        ("whatsapp", ChannelKind.WHATSAPP, "+14155550100", support, DEMO_CONFIGS["whatsapp"]),
        ("sms", ChannelKind.SMS, "+14155550101", support, DEMO_CONFIGS["sms"]),
        ("phone", ChannelKind.PHONE, "+14155550102", support, DEMO_CONFIGS["phone"]),
    )
    accounts: dict[str, Any] = {}
    for name, kind, address, group, config in specs:
        account = ChannelAccount.objects.get_or_create(
            name=name,
            defaults={"kind": kind, "address": address, "group": group, "config": config},
        )[0]
        key = f"email:{group.name}" if kind == ChannelKind.EMAIL else kind
        accounts.setdefault(key, account)
    for name, body, status, priority, tags in MACROS:
        Macro.objects.get_or_create(
            name=name,
            defaults={
                "body": body,
                "set_status": status,
                "set_priority": priority,
                "add_tags": tags,
            },
        )
    return Base(groups, users, people, accounts, people[0], teams)


# --- demo tickets, through the services --------------------------------------------------------


@dataclass
class Step:
    kind: str  # assign | note | reply | customer | resolve | close | escalate | tags | nudge
    gap_minutes: tuple[float, float]
    at: datetime | None = None


@dataclass
class Plan:
    problem: Problem
    channel: str
    person: Person
    subject: str
    first_text: str
    values: dict[str, str]
    priority: int
    group: str
    start_group: str
    agent: str  # username
    status: str
    created: datetime
    steps: list[Step]


STEP_GAPS = {
    "tags": (1, 20),
    "assign": (3, 120),
    "escalate": (5, 90),
    "note": (5, 60),
    "reply": (10, 420),
    "customer": (15, 1440),
    "resolve": (20, 1440),
    "close": (4320, 7200),
    "nudge": (120, 1200),
}


def _status_for_age(rng: random.Random, age_days: float) -> str:
    S = Ticket.Status
    table: tuple[tuple[str, float], ...]
    if age_days < 1:
        table = ((S.NEW, 45), (S.OPEN, 30), (S.PENDING, 20), (S.SOLVED, 5))
    elif age_days < 7:
        table = ((S.NEW, 8), (S.OPEN, 30), (S.PENDING, 27), (S.SOLVED, 30), (S.CLOSED, 5))
    else:
        table = ((S.NEW, 2), (S.OPEN, 10), (S.PENDING, 10), (S.SOLVED, 25), (S.CLOSED, 53))
    return _weighted(rng, table)


def _values(rng: random.Random, person: Person, agent_first: str) -> dict[str, str]:
    org = person.org or f"{person.last} Trading"
    domain = person.identities.get(Identity.Kind.EMAIL, "x@example.com").split("@")[1]
    return {
        "first": person.first,
        "last": person.last,
        "org": org,
        "domain": domain,
        "order": f"A-{rng.randrange(10000, 99999)}",
        "invoice": f"INV-{rng.randrange(2400, 2599)}-{rng.randrange(1000, 9999)}",
        "amount": f"${rng.choice((19, 29, 49, 79, 99, 149, 249))}.00",
        "last4": f"{rng.randrange(0, 9999):04d}",
        "plan": rng.choice(PLANS),
        "days": str(rng.randrange(8, 16)),
        "agent": agent_first,
    }


def plan_tickets(*, seed: int, count: int, base: Base, now: datetime) -> list[Plan]:
    """Every demo ticket's story, decided up front from the seed alone (no database reads beyond
    the base), so the same seed always tells the same stories."""
    rng = random.Random(seed)
    by_kind: dict[str, list[Person]] = {}
    for person in base.people:
        for kind in person.identities:
            by_kind.setdefault(kind, []).append(person)
    agent_for = {
        "Support": ["ada", "ada", "ada", "sue"],
        "Technical": ["ada", "ada", "sue"],
        "Billing": ["bob", "bob", "bob", "sue"],
    }
    first_names = {"ada": "Ada", "bob": "Bob", "sue": "Sue"}
    plans = []
    for index in range(count):
        problem = rng.choice(PROBLEMS)
        channel = _weighted(rng, CHANNEL_WEIGHTS)
        if channel == Channel.WEB and index % 5 == 0:
            person = base.alice  # the portal customer has a history to look at
        else:
            if IDENTITY_FOR_CHANNEL[channel] not in by_kind:
                channel = Channel.EMAIL
            person = rng.choice(by_kind[IDENTITY_FOR_CHANNEL[channel]])
        # more recent tickets than old ones, as in any growing help desk
        age_days = max(0.02, HISTORY_DAYS * rng.random() ** 1.3)
        created = now - timedelta(days=age_days)
        status = _status_for_age(rng, age_days)
        agent = rng.choice(agent_for[problem.group])
        values = _values(rng, person, first_names[agent])
        escalated = problem.group == "Technical" and rng.random() < 0.4
        priority = problem.priority
        if rng.random() < 0.12:
            priority = min(priority + 1, Ticket.Priority.URGENT)
        subject = rng.choice(problem.subjects).format(**values)
        if channel in CONVERSATIONAL or channel == Channel.PHONE:
            short = problem.short.format(**values)
            first_text = f"Phone call. Caller says: {short}" if channel == Channel.PHONE else short
            subject = "" if channel in CONVERSATIONAL else subject
        else:
            signature = f"{person.first} {person.last}" + (f"\n{person.org}" if person.org else "")
            first_text = (
                f"{rng.choice(GREETINGS)}\n\n{problem.body.format(**values)}\n\n"
                f"{rng.choice(SIGN_OFFS)}\n{signature}"
            )
        steps = _steps_for(rng, status, escalated=escalated, age_days=age_days)
        _place(rng, steps, created, now)
        plans.append(
            Plan(
                problem,
                channel,
                person,
                subject,
                first_text,
                values,
                priority,
                problem.group,
                "Support" if escalated else problem.group,
                agent,
                status,
                created,
                steps,
            )
        )
    # played oldest first, so ticket numbers rise with time as they would have
    plans.sort(key=lambda plan: plan.created)
    return plans


def _steps_for(rng: random.Random, status: str, *, escalated: bool, age_days: float) -> list[Step]:
    S = Ticket.Status
    kinds: list[str] = []
    if status == S.NEW:
        if rng.random() < 0.4:
            kinds.append("tags")
        if age_days > 0.3 and rng.random() < 0.3:
            kinds.append("nudge")
        return [Step(k, STEP_GAPS[k]) for k in kinds]
    kinds.append("assign")
    if escalated:
        kinds.append("escalate")
    kinds.append("tags")
    if rng.random() < 0.35:
        kinds.append("note")
    if status == S.OPEN:
        if rng.random() < 0.6:
            kinds += ["reply", "customer"]
    elif status == S.PENDING:
        kinds.append("reply")
        if rng.random() < 0.4:
            kinds += ["customer", "reply"]
    else:  # solved or closed
        if rng.random() < 0.75:
            kinds += ["reply", "customer"]
        kinds.append("resolve")
        if status == S.CLOSED:
            kinds.append("close")
    return [Step(k, STEP_GAPS[k]) for k in kinds]


def _place(rng: random.Random, steps: list[Step], created: datetime, now: datetime) -> None:
    """Give each step a time after the one before, squeezed to fit before `now`."""
    gaps = [rng.uniform(*step.gap_minutes) for step in steps]
    room = (now - created).total_seconds() / 60 - 5
    scale = min(1.0, room / sum(gaps)) if gaps and sum(gaps) > 0 else 1.0
    at = created
    for step, gap in zip(steps, gaps, strict=True):
        at = at + timedelta(minutes=max(gap * scale, 0.5))
        step.at = at


class DemoSeeder:
    """Plays each plan through the services, then moves every row to its planned time."""

    def __init__(self, base: Base, rng: random.Random) -> None:
        self.base = base
        self.rng = rng
        # Channel message ids are unique per account; a second run with the same seed tells the
        # same stories but must not reuse the first run's ids.
        self.run_tag = secrets.token_hex(4)
        self.replies: list[tuple[Message, Plan, datetime]] = []
        self.tickets: list[Ticket] = []

    def _account_id(self, plan: Plan) -> int | None:
        if plan.channel == Channel.EMAIL:
            return self.base.email_account(plan.start_group).pk
        account = self.base.accounts.get(plan.channel)
        return account.pk if account is not None else None

    def _external_id(self, plan: Plan) -> str:
        token = f"{self.rng.getrandbits(64):016x}.{self.run_tag}"
        if plan.channel == Channel.EMAIL:
            return f"<{token}@{plan.values['domain']}>"
        if plan.channel == Channel.WEB:
            return ""
        return f"{plan.channel}-{token}"

    def _customer_message(self, ticket: Ticket, plan: Plan, text: str, when: datetime) -> None:
        kind = IDENTITY_FOR_CHANNEL[plan.channel]
        incoming = IncomingMessage(
            channel=plan.channel,
            identity_kind=kind,
            identity_value=plan.person.identities[kind],
            sender_name=f"{plan.person.first} {plan.person.last}",
            subject=f"Re: {ticket.subject}" if plan.channel == Channel.EMAIL else "",
            text=text,
            channel_account_id=self._account_id(plan),
            external_id=self._external_id(plan),
            received_at=when,
            target_ticket_id=ticket.pk,
        )
        services.message_ingest(incoming=incoming)

    def _agent_text(self, plan: Plan, core: str) -> str:
        text = core.format(**plan.values)
        if plan.channel in (Channel.EMAIL, Channel.WEB):
            return f"Hi {plan.person.first},\n\n{text}\n\nBest regards,\n{plan.values['agent']}"
        return f"Hi {plan.person.first}! {text}"

    def play(self, plan: Plan) -> Ticket:
        base = self.base
        agent = base.users[plan.agent]
        ticket = services.ticket_create(
            contact=plan.person.contact,
            subject=plan.subject,
            text=plan.first_text,
            channel=plan.channel,
            group=base.groups[plan.start_group],
            priority=plan.priority,
            channel_account_id=self._account_id(plan),
            external_id=self._external_id(plan),
            created_at=plan.created,
        )
        replies = 0
        times: dict[str, datetime] = {"customer": plan.created}
        for step in plan.steps:
            when = step.at or plan.created
            if step.kind == "tags":
                ticket = services.ticket_set_tags(
                    ticket=ticket,
                    names=plan.problem.tags,
                    actor=None if plan.status == Ticket.Status.NEW else agent,
                    occurred_at=when,
                )
            elif step.kind == "assign":
                actor = base.users["sue"] if self.rng.random() < 0.3 else agent
                ticket = services.ticket_assign(
                    ticket=ticket, agent=agent, actor=actor, occurred_at=when
                )
            elif step.kind == "escalate":
                ticket = services.ticket_set_group(
                    ticket=ticket, group=base.groups[plan.group], actor=agent, occurred_at=when
                )
                services.ticket_note(
                    ticket=ticket,
                    author=agent,
                    text="Moving this to Technical: it looks like a product issue, not a "
                    "how-to question.",
                    occurred_at=when,
                )
            elif step.kind == "note":
                services.ticket_note(
                    ticket=ticket, author=agent, text=plan.problem.note, occurred_at=when
                )
            elif step.kind in ("reply", "resolve"):
                if step.kind == "resolve":
                    core = plan.problem.resolve
                else:
                    core = plan.problem.reply if replies == 0 else FOLLOW_UP_REPLY
                message = services.ticket_reply(
                    ticket=ticket,
                    author=agent,
                    text=self._agent_text(plan, core),
                    status=Ticket.Status.SOLVED if step.kind == "resolve" else None,
                    occurred_at=when,
                )
                replies += 1
                self.replies.append((message, plan, when))
                times.setdefault("first_response", when)
                times["agent"] = when
                if step.kind == "resolve":
                    times["solved"] = when
            elif step.kind in ("customer", "nudge"):
                text = (
                    plan.problem.followup.format(**plan.values)
                    if step.kind == "customer"
                    else self.rng.choice(NUDGES)
                )
                self._customer_message(ticket, plan, text, when)
                times["customer"] = when
            elif step.kind == "close":
                ticket = services.ticket_set_status(
                    ticket=ticket, status=Ticket.Status.CLOSED, actor=None, occurred_at=when
                )
                times["closed"] = when
        ticket.refresh_from_db()
        last = plan.steps[-1].at if plan.steps else plan.created
        ticket.created_at = plan.created
        ticket.updated_at = last or plan.created
        ticket.first_response_at = times.get("first_response")
        ticket.solved_at = (
            times.get("solved")
            if ticket.status in (Ticket.Status.SOLVED, Ticket.Status.CLOSED)
            else None
        )
        ticket.closed_at = times.get("closed")
        ticket.last_customer_message_at = times["customer"]
        ticket.last_agent_message_at = times.get("agent")
        self.tickets.append(ticket)
        return ticket

    def rewrite_history(self) -> int:
        """Move every row the services stamped with `now` to its planned time, and record each
        reply as already delivered. Returns the number of deliveries recorded."""
        from channels_in.models import OutboundDelivery

        # Every service was given its step's time (`occurred_at`), so events and messages
        # already carry it; the ticket's own timestamps are set here.
        Ticket.objects.bulk_update(
            self.tickets,
            [
                "created_at",
                "updated_at",
                "first_response_at",
                "solved_at",
                "closed_at",
                "last_customer_message_at",
                "last_agent_message_at",
            ],
            batch_size=500,
        )
        deliveries = []
        moved = []
        for message, plan, when in self.replies:
            account = self._delivery_account(plan)
            if plan.channel in (Channel.WEB, Channel.API) or account is None:
                continue
            kind = IDENTITY_FOR_CHANNEL[plan.channel]
            if plan.channel == Channel.EMAIL:
                message.external_id = (
                    f"<hd.{message.ticket.reply_token}."
                    f"{self.rng.getrandbits(64):016x}@"
                    f"{settings.HELPDESK_EMAIL_DOMAIN}>"
                )
            message.channel_account_id = account.pk
            moved.append(message)
            deliveries.append(
                OutboundDelivery(
                    message=message,
                    account=account,
                    channel=plan.channel,
                    recipient=plan.person.identities.get(kind, ""),
                    idempotency_key=f"msg-{message.pk}-{plan.channel}",
                    provider_id=message.external_id if plan.channel == Channel.EMAIL else "",
                    status=OutboundDelivery.Status.SENT,
                    attempts=1,
                    created_at=when,
                    sent_at=when + timedelta(seconds=2),
                    updated_at=when + timedelta(seconds=2),
                )
            )
        Message.objects.bulk_update(moved, ["external_id", "channel_account_id"], batch_size=500)
        OutboundDelivery.objects.bulk_create(deliveries, batch_size=500)
        return len(deliveries)

    def _delivery_account(self, plan: Plan) -> Any:
        if plan.channel == Channel.EMAIL:
            return self.base.email_account(plan.start_group)
        return self.base.accounts.get(plan.channel)


# --- bulk tickets, through COPY -------------------------------------------------------------


class CopyTable:
    """Rows of one model written with COPY. The caller names the fields it fills; every other
    column gets its model default, so a field added later does not break the loader unless it
    is required and has no default (then it says so)."""

    def __init__(self, model: type[models.Model], fields: Sequence[str]) -> None:
        opts = model._meta
        by_name = {f.attname: f for f in opts.concrete_fields}
        missing = [name for name in fields if name not in by_name]
        if missing:
            raise CommandError(f"{opts.db_table} has no field(s) {missing}")
        self.table = opts.db_table
        self.columns: list[str] = [str(by_name[name].column) for name in fields]
        self.defaults: list[Any] = []
        self.per_row: list[models.Field[Any, Any]] = []  # unique, so a fresh default each row
        for f in opts.concrete_fields:
            if f.attname in fields or f.primary_key:
                continue
            if f.has_db_default() and not f.has_default():
                continue  # the database fills it
            if f.unique and callable(f.default):
                self.per_row.append(f)
                continue
            # what Django itself would save: the default, else "" for text, else NULL
            value = f.get_default()
            if isinstance(f, models.JSONField) and value is not None:
                value = json.dumps(value)
            if value is None and not f.null:
                raise CommandError(
                    f"{self.table}.{f.column} is required and has no default: teach seed_demo's "
                    "bulk loader to fill it"
                )
            self.columns.append(str(f.column))
            self.defaults.append(value)
        self.tail = tuple(self.defaults)
        self.columns += [str(f.column) for f in self.per_row]

    def write(self, cursor: Any, rows: Iterable[tuple[Any, ...]]) -> int:
        count = 0
        sql = f"COPY {self.table} ({', '.join(self.columns)}) FROM STDIN"  # noqa: S608 - model metadata
        tail, per_row = self.tail, self.per_row
        with cursor.copy(sql) as copy:
            write = copy.write_row
            for row in rows:
                if per_row:
                    write(row + tail + tuple(f.get_default() for f in per_row))
                else:
                    write(row + tail)
                count += 1
        return count


def _reserve(cursor: Any, sequence: str, count: int) -> list[int]:
    cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", [sequence, count])
    return [row[0] for row in cursor.fetchall()]


def _id_sequence(cursor: Any, table: str) -> str:
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    return cursor.fetchone()[0]


REBUILD_INDEXES_FROM = 100_000
BULK_TABLES = (
    "tickets_contact",
    "tickets_identity",
    "tickets_ticket",
    "tickets_message",
    "tickets_ticketevent",
    "tickets_ticket_tags",
)
BULK_STATUS = (
    # (max age in days, ((status, weight), ...))
    (1, (("new", 40), ("open", 30), ("pending", 20), ("solved", 10))),
    (7, (("new", 5), ("open", 25), ("pending", 25), ("solved", 35), ("closed", 10))),
    (30, (("new", 0.5), ("open", 4), ("pending", 5.5), ("solved", 10), ("closed", 80))),
    (10**9, (("open", 0.5), ("pending", 0.5), ("solved", 1), ("closed", 98))),
)


def _cumulative(table: Sequence[tuple[str, float]]) -> list[tuple[float, str]]:
    total = sum(w for _, w in table)
    out, run = [], 0.0
    for value, weight in table:
        run += weight / total
        out.append((run, value))
    return out


class BulkLoader:
    """Generates tickets in batches and loads them with COPY, one transaction per batch."""

    def __init__(self, base: Base, *, seed: int, now: datetime, total: int, out: Any) -> None:
        self.base = base
        self.rng = random.Random(seed * 7919 + total)
        self.now = now
        self.total = total
        self.out = out
        self.span_days = min(730.0, max(float(HISTORY_DAYS), total / 1000))
        self.status_tables = [(age, _cumulative(t)) for age, t in BULK_STATUS]
        self.channels = _cumulative([(c.value, w) for c, w in CHANNEL_WEIGHTS])
        self.group_ids = {name: g.pk for name, g in base.groups.items()}
        self.agents = {
            name: [u.pk for u in base.members(name)] or [base.users["sue"].pk]
            for name in base.groups
        }
        self.account_ids = {k: a.pk for k, a in base.accounts.items()}
        self.org_ids = list(Organisation.objects.values_list("id", flat=True))
        self.org_domain = dict(Organisation.objects.values_list("id", "domains"))
        self.tag_ids: dict[str, int] = {}
        for problem in PROBLEMS:
            for name in problem.tags:
                if name not in self.tag_ids:
                    self.tag_ids[name] = Tag.objects.get_or_create(name=name)[0].pk
        self.contacts = CopyTable(
            Contact, ["id", "name", "organisation_id", "created_at", "updated_at"]
        )
        self.identities = CopyTable(
            Identity, ["contact_id", "kind", "value", "verified", "created_at"]
        )
        self.tickets = CopyTable(
            Ticket,
            [
                "id",
                "number",
                "subject",
                "status",
                "priority",
                "channel",
                "contact_id",
                "organisation_id",
                "group_id",
                "assignee_id",
                "reply_token",
                "channel_account_id",
                "message_count",
                "created_at",
                "updated_at",
                "first_response_at",
                "solved_at",
                "closed_at",
                "last_customer_message_at",
                "last_agent_message_at",
            ],
        )
        self.messages = CopyTable(
            Message,
            [
                "ticket_id",
                "kind",
                "channel",
                "author_contact_id",
                "author_user_id",
                "channel_account_id",
                "external_id",
                "subject",
                "text",
                "sender",
                "created_at",
            ],
        )
        self.events = CopyTable(
            TicketEvent,
            [
                "ticket_id",
                "kind",
                "actor_kind",
                "actor_id",
                "actor_contact_id",
                "payload",
                "occurred_at",
                "recorded_at",
                "status",
                "priority",
                "group_id",
                "assignee_id",
            ],
        )
        self.ticket_tags = CopyTable(Ticket.tags.through, ["ticket_id", "tag_id"])
        self.rendered = [self._render(p) for p in PROBLEMS]

    @staticmethod
    def _render(problem: Problem) -> tuple[str, str, str, str]:
        # Fixed values per problem keep the bulk path fast; the demo path varies them per ticket.
        values = {
            "first": "there",
            "last": "",
            "org": "our company",
            "domain": "example.com",
            "order": "A-48213",
            "invoice": "INV-2511-4821",
            "amount": "$49.00",
            "last4": "4242",
            "plan": "Business",
            "days": "9",
            "agent": "Support",
        }
        return (
            problem.subjects[0].format(**values),
            problem.body.format(**values),
            problem.short.format(**values),
            problem.reply.format(**values),
        )

    def _pick(self, table: list[tuple[float, str]]) -> str:
        roll = self.rng.random()
        for threshold, value in table:
            if roll < threshold:
                return value
        return table[-1][1]

    def run(self, batch_size: int, *, rebuild_indexes: str = "auto") -> None:
        started = time.monotonic()
        skip_checks = self._may_skip_fk_checks()
        rebuild = rebuild_indexes == "always" or (
            rebuild_indexes == "auto" and self.total >= REBUILD_INDEXES_FROM
        )
        # A big load is one transaction: the secondary indexes are dropped, the rows loaded and
        # each index built again in one sorted pass, several times faster than updating them
        # row by row. The tables stay locked meanwhile: that is for benchmark databases, not a
        # desk in use. Smaller loads commit batch by batch and keep every index.
        with transaction.atomic() if rebuild else nullcontext():
            if rebuild:
                # An index cannot be dropped or built while the transaction still owes
                # deferred foreign-key checks on its table: run those checks as they come.
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            dropped = self._drop_indexes() if rebuild else []
            done = 0
            while done < self.total:
                size = min(batch_size, self.total - done)
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit = off")
                    if skip_checks:
                        cursor.execute("SET LOCAL session_replication_role = replica")
                    self._batch(cursor, first_index=done, size=size)
                    if skip_checks:  # for whatever else runs in an enclosing transaction
                        cursor.execute("SET LOCAL session_replication_role = DEFAULT")
                done += size
                self._progress(started, f"{done:>9,}/{self.total:,} tickets", done)
            if dropped:
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
                    for definition in dropped:
                        cursor.execute(definition)
                    cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # Django's foreign keys' way
                self._progress(started, f"rebuilt {len(dropped)} indexes", done)
        with connection.cursor() as cursor:
            for table in BULK_TABLES:
                cursor.execute(f"ANALYZE {table}")

    def _progress(self, started: float, what: str, done: int) -> None:
        elapsed = time.monotonic() - started
        self.out.write(f"  {what}  {elapsed:7.1f} s  ({done / max(elapsed, 1e-9):,.0f} tickets/s)")
        self.out.flush()

    def _drop_indexes(self) -> list[str]:
        """Drop the bulk tables' indexes that back no constraint; returns how to rebuild them."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
                "FROM pg_index i WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
                [list(BULK_TABLES)],
            )
            found = cursor.fetchall()
            for name, _ in found:
                cursor.execute(f"DROP INDEX {name}")
        return [definition for _, definition in found]

    def _may_skip_fk_checks(self) -> bool:
        """Half of a batch's time goes to the deferred foreign-key checks at commit. Every id
        this loader writes was just reserved or read from the base, so a superuser session may
        skip them (`session_replication_role = replica`, as pg_restore does) — but only when the
        tables carry no triggers of our own, which replica mode would silently skip too."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            row = cursor.fetchone()
            if not (row and row[0]):
                return False
            cursor.execute(
                "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal "
                "AND tgrelid = ANY(%s::regclass[])",
                [list(BULK_TABLES)],
            )
            return cursor.fetchone()[0] == 0

    def _batch(self, cursor: Any, *, first_index: int, size: int) -> None:
        rng = self.rng
        contact_count = max(1, size // 4)
        contact_ids = _reserve(cursor, _id_sequence(cursor, "tickets_contact"), contact_count)
        ticket_ids = _reserve(cursor, _id_sequence(cursor, "tickets_ticket"), size)
        numbers = _reserve(cursor, TICKET_NUMBER_SEQUENCE, size)
        start = self.now - timedelta(days=self.span_days)

        contact_rows, identity_rows = [], []
        contacts: list[tuple[int, int | None, str]] = []  # id, organisation, email
        for cid in contact_ids:
            first = BULK_FIRST[rng.randrange(len(BULK_FIRST))]
            last = BULK_LAST[rng.randrange(len(BULK_LAST))]
            org_id = (
                self.org_ids[rng.randrange(len(self.org_ids))]
                if (self.org_ids and rng.random() < 0.1)
                else None
            )
            domain = (
                self.org_domain[org_id].split(",")[0]
                if org_id
                else PERSONAL_DOMAINS[cid % len(PERSONAL_DOMAINS)]
            )
            email = f"{_ascii(first)}.{_ascii(last)}.{cid}@{domain}"
            contact_rows.append((cid, f"{first} {last}", org_id, start, start))
            identity_rows.append((cid, Identity.Kind.EMAIL.value, email, False, start))
            if rng.random() < 0.2 and cid < 10**7:
                # 555 is no real North American area code: these numbers reach nobody
                identity_rows.append(
                    (cid, Identity.Kind.PHONE.value, f"+1555{cid:07d}", False, start)
                )
            contacts.append((cid, org_id, email))
        self.contacts.write(cursor, contact_rows)
        self.identities.write(cursor, identity_rows)

        message_rows: list[tuple[Any, ...]] = []
        event_rows: list[tuple[Any, ...]] = []
        tag_rows: list[tuple[Any, ...]] = []
        # Tickets are generated while COPY streams them, so Python and PostgreSQL work at once;
        # their messages and events are collected on the way and written next.
        tickets = self._tickets(
            first_index, ticket_ids, numbers, contacts, start, message_rows, event_rows, tag_rows
        )
        self.tickets.write(cursor, tickets)
        self.messages.write(cursor, message_rows)
        self.events.write(cursor, event_rows)
        self.ticket_tags.write(cursor, tag_rows)

    def _tickets(
        self,
        first_index: int,
        ticket_ids: list[int],
        numbers: list[int],
        contacts: list[tuple[int, int | None, str]],
        start: datetime,
        message_rows: list[tuple[Any, ...]],
        event_rows: list[tuple[Any, ...]],
        tag_rows: list[tuple[Any, ...]],
    ) -> Iterator[tuple[Any, ...]]:
        rng, now, total = self.rng, self.now, self.total
        span = self.span_days * 86400.0
        status_tables, rendered, account_ids = self.status_tables, self.rendered, self.account_ids
        for k, tid in enumerate(ticket_ids):
            # evenly spread over the span in id order: numbers rise with time
            created = start + timedelta(seconds=span * (first_index + k + rng.random()) / total)
            age_days = (now - created).total_seconds() / 86400
            status = self._pick(next(t for age, t in status_tables if age_days < age))
            p_index = rng.randrange(len(PROBLEMS))
            problem = PROBLEMS[p_index]
            subject, body, short, reply = rendered[p_index]
            channel = self._pick(self.channels)
            cid, org_id, email = contacts[rng.randrange(len(contacts))]
            group = problem.group
            if channel == "email":
                account_id = account_ids.get(f"email:{group}") or account_ids.get("email:Support")
            else:
                account_id = account_ids.get(channel)
            responded = status != "new"
            agents = self.agents[group]
            assignee = (
                agents[rng.randrange(len(agents))] if responded or rng.random() < 0.2 else None
            )
            first_response = solved = closed = None
            if responded:
                first_response = min(created + timedelta(minutes=5 + rng.random() * 600), now)
                if status in ("solved", "closed"):
                    solved = min(first_response + timedelta(minutes=rng.random() * 2880), now)
                    if status == "closed":
                        closed = min(solved + timedelta(days=4), now)
            updated = closed or solved or first_response or created
            conversational = channel in ("chat", "whatsapp", "telegram", "sms")
            text = short if conversational or channel == "phone" else body
            ticket_subject = short[:80] if conversational else subject
            message_rows.append(
                (
                    tid,
                    "customer",
                    channel,
                    cid,
                    None,
                    account_id,
                    f"<t{tid}.c@{email.rsplit('@', 1)[1]}>" if channel == "email" else "",
                    ticket_subject,
                    text,
                    email if channel in ("email", "web") else "",
                    created,
                )
            )
            if responded:
                message_rows.append(
                    (
                        tid,
                        "reply",
                        channel,
                        None,
                        assignee,
                        account_id,
                        "",
                        ticket_subject,
                        reply,
                        "",
                        first_response,
                    )
                )
            event_rows.append(
                (
                    tid,
                    "created",
                    "customer",
                    None,
                    cid,
                    json.dumps({"channel": channel, "subject": ticket_subject, "message": None}),
                    created,
                    created,
                    "new",
                    problem.priority,
                    self.group_ids[group],
                    None,
                )
            )
            if rng.random() < 0.3:
                tag_rows.append((tid, self.tag_ids[problem.tags[0]]))
            yield (
                tid,
                numbers[k],
                ticket_subject,
                status,
                problem.priority,
                channel,
                cid,
                org_id,
                self.group_ids[group],
                assignee,
                secrets.token_urlsafe(12),
                account_id,
                2 if responded else 1,
                created,
                updated,
                first_response,
                solved,
                closed,
                created,
                first_response,
            )


# --- the command --------------------------------------------------------------------------------


class Command(BaseCommand):
    help = (
        "Create demo data: teams, agents, customers, channel accounts, macros and tickets. "
        "--tickets N bulk-loads N more tickets with COPY (for benchmarks)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--tickets",
            type=int,
            default=None,
            help="Bulk-load this many extra tickets with COPY (fast path).",
        )
        parser.add_argument(
            "--tickets-demo",
            type=int,
            default=None,
            help=f"Conversation-rich demo tickets made through the services "
            f"(default {DEFAULT_DEMO_TICKETS}; 0 with --tickets).",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when the database already holds tickets.",
        )
        parser.add_argument(
            "--rebuild-indexes",
            choices=("auto", "always", "never"),
            default="auto",
            help="Drop the bulk tables' secondary indexes during the load and build them again "
            f"after, in one transaction (auto: from {REBUILD_INDEXES_FROM:,} tickets).",
        )
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1).")
        parser.add_argument(
            "--batch-size", type=int, default=50_000, help="Tickets per COPY batch (default 50000)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_empty"] and Ticket.objects.exists():
            self.stdout.write("seed_demo: tickets already exist; nothing to do (--if-empty).")
            return
        bulk = options["tickets"] or 0
        demo = options["tickets_demo"]
        if demo is None:
            demo = 0 if bulk else DEFAULT_DEMO_TICKETS
        if bulk < 0 or demo < 0:
            raise CommandError("Ticket counts cannot be negative.")
        seed = options["seed"]
        now = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
        started = time.monotonic()
        base, seeded = self._seed_demo(seed=seed, count=demo, now=now, bulk_agents=bool(bulk))
        if demo:
            self.stdout.write(
                f"seed_demo: {demo} demo tickets in {time.monotonic() - started:.1f} s"
            )
        if bulk:
            self.stdout.write(f"seed_demo: bulk-loading {bulk:,} tickets with COPY")
            loader = BulkLoader(base, seed=seed, now=now, total=bulk, out=self.stdout)
            bulk_started = time.monotonic()
            loader.run(options["batch_size"], rebuild_indexes=options["rebuild_indexes"])
            self.stdout.write(
                f"seed_demo: {bulk:,} tickets loaded in {time.monotonic() - bulk_started:.1f} s"
            )
        if bulk or demo:
            search_started = time.monotonic()
            written = documents_rebuild(missing_only=True)
            self.stdout.write(
                f"seed_demo: {written:,} search documents in "
                f"{time.monotonic() - search_started:.1f} s"
            )
        self._seed_help_centre()
        self._summary(seeded)

    def _seed_help_centre(self) -> None:
        """The help centre's demo articles (English and French), through kb_import's code."""
        from kb.importing import DEMO_ARTICLES, import_lines

        with DEMO_ARTICLES.open(encoding="utf-8") as handle:
            results = list(import_lines(handle))
        failed = [r.describe() for r in results if r.action == "error"]
        if failed:
            raise CommandError("demo articles: " + "; ".join(failed))
        self.stdout.write(f"seed_demo: {len(results)} help-centre articles")

    def _seed_demo(
        self, *, seed: int, count: int, now: datetime, bulk_agents: bool
    ) -> tuple[Base, int]:
        """Base and demo tickets in one transaction. Agent replies would queue email deliveries
        after commit; the delivery receiver is disconnected meanwhile and the replies are
        recorded as already sent, because they are history, not news. Live screen updates are
        off too: no screen watches history being written, and each costs a Redis round trip."""
        from channels_in import receivers
        from tickets.events import reply_posted, ticket_changed
        from tickets.live import push_ticket_changed
        from tickets.search.receivers import identity_saved_refresh, ticket_changed_refresh
        from tickets.sla_live import recompute_sla

        disconnected = reply_posted.disconnect(receivers.record_delivery)
        live_off = ticket_changed.disconnect(push_ticket_changed)
        # search documents are built in one pass at the end (`documents_rebuild`)
        search_off = ticket_changed.disconnect(dispatch_uid="search_ticket_changed")
        identities_off = post_save.disconnect(sender=Identity, dispatch_uid="search_identity_saved")
        # SLA is replayed once per ticket below, after history has its final times
        sla_off = ticket_changed.disconnect(recompute_sla)
        try:
            with transaction.atomic():
                base = build_base(with_bulk_agents=bulk_agents)
                seeder = DemoSeeder(base, random.Random(seed * 104729 + 1))
                for plan in plan_tickets(seed=seed, count=count, base=base, now=now):
                    seeder.play(plan)
                deliveries = seeder.rewrite_history()
        finally:
            if disconnected:
                reply_posted.connect(receivers.record_delivery)
            if live_off:
                ticket_changed.connect(push_ticket_changed)
            if search_off:
                ticket_changed.connect(ticket_changed_refresh, dispatch_uid="search_ticket_changed")
            if identities_off:
                post_save.connect(
                    identity_saved_refresh, sender=Identity, dispatch_uid="search_identity_saved"
                )
            if sla_off:
                ticket_changed.connect(recompute_sla)
        seed_sla_policy()
        return base, deliveries

    def _summary(self, deliveries: int) -> None:
        from channels_in.models import ChannelAccount

        counts = {
            "teams": Group.objects.count(),
            "contacts": Contact.objects.count(),
            "tickets": Ticket.objects.count(),
            "messages": Message.objects.count(),
            "channel accounts": ChannelAccount.objects.count(),
            "macros": Macro.objects.count(),
        }
        self.stdout.write(
            "seed_demo: "
            + ", ".join(f"{v:,} {k}" for k, v in counts.items())
            + (f"; {deliveries} replies recorded as sent" if deliveries else "")
        )
        self.stdout.write("Demo logins (email / password):")
        for login in LOGINS:
            role = login.role or "customer (portal)"
            teams = f", {' + '.join(login.groups)}" if login.groups else ""
            self.stdout.write(f"  {login.email:<22} {login.password:<16} {role}{teams}")

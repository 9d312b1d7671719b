"""The desk pages where an admin sees, adds and tests email accounts."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tickets.roles import is_admin

from ..models import ChannelAccount, ChannelKind, MailboxState
from .check import CheckResult, check_mailbox
from .config import ConfigError, EmailAccountConfig, load_email_config
from .forms import MailboxForm
from .services import email_account_create


@dataclass(frozen=True, slots=True)
class AccountRow:
    account: ChannelAccount
    config: EmailAccountConfig | None
    error: str
    states: list[MailboxState]

    @property
    def receiving(self) -> str:
        if self.config is None:
            return "—"
        ways = []
        if self.config.imap:
            ways.append(f"IMAP {self.config.imap.host} ({self.config.imap.folder})")
        if self.config.webhook:
            ways.append(f"{self.config.webhook.provider} webhook")
        return ", ".join(ways) or "SMTP listener"

    @property
    def sending(self) -> str:
        if self.config is None:
            return "—"
        if self.config.smtp:
            return f"SMTP {self.config.smtp.host}:{self.config.smtp.port}"
        return self.config.esp or "site default"


def _gate(request: HttpRequest) -> HttpResponse | None:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not is_admin(request.user):
        raise PermissionDenied("Email accounts are managed by admins.")
    return None


@require_GET
def accounts(request: HttpRequest) -> HttpResponse:
    if (denied := _gate(request)) is not None:
        return denied
    states: dict[int, list[MailboxState]] = {}
    for state in MailboxState.objects.filter(account__kind=ChannelKind.EMAIL):
        states.setdefault(state.account_id, []).append(state)
    rows = []
    for account in ChannelAccount.objects.filter(kind=ChannelKind.EMAIL).select_related("group"):
        try:
            config, error = load_email_config(account), ""
        except ConfigError as exc:
            config, error = None, str(exc)
        rows.append(AccountRow(account, config, error, states.get(account.pk, [])))
    return render(request, "channels_in/email_accounts.html", {"rows": rows})


@require_POST
def account_check(request: HttpRequest, account_id: int) -> HttpResponse:
    if (denied := _gate(request)) is not None:
        return denied
    account = get_object_or_404(ChannelAccount, pk=account_id, kind=ChannelKind.EMAIL)
    result = check_mailbox(account)
    htmx = getattr(request, "htmx", None)
    template = "channels_in/_email_check_result.html" if htmx else "channels_in/email_check.html"
    return render(request, template, {"account": account, "result": result})


@require_http_methods(["GET", "POST"])
def account_new(request: HttpRequest) -> HttpResponse:
    """Add a mailbox: "Test connection" checks the settings as entered (nothing saved),
    "Save" stores them once they validate."""
    if (denied := _gate(request)) is not None:
        return denied
    form = MailboxForm(request.POST or None)
    result: CheckResult | None = None
    if request.method == "POST" and form.is_valid():
        if "test" in request.POST:
            result = check_mailbox(form.unsaved_account())
        else:
            try:
                account = email_account_create(
                    name=form.cleaned_data["name"],
                    address=form.cleaned_data["address"],
                    group=form.cleaned_data["group"],
                    config=form.config(),
                )
            except ConfigError as exc:  # the form checked already; a race cannot make it valid
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Mailbox {account.name} added.")
                return redirect("channels_in:email:accounts")
    return render(request, "channels_in/email_account_new.html", {"form": form, "result": result})

"""Voice webhooks (each signed like SMS ones, each stored before it is acted on) answering with
TwiML, and the agents' "log a call" form."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from tickets import services as ticket_services
from tickets.access import access_ticket_by_number
from tickets.services import ServiceError

from ..config import ConfigError, PhoneConfig, load_config
from ..models import ChannelAccount, ChannelKind
from ..services import inbound_store
from ..webhooks import account_or_404, public_url, twilio_signature_valid
from . import twiml
from .forms import CallLogForm
from .parser import content_type

VoiceView = Callable[[HttpRequest, ChannelAccount, PhoneConfig], HttpResponse]


def voice_webhook(event: str) -> Callable[[VoiceView], Callable[[HttpRequest, str], HttpResponse]]:
    """Verify the provider's signature, store the post (named by call and event), then run
    the view; a forged request stores nothing."""

    def wrap(view: VoiceView) -> Callable[[HttpRequest, str], HttpResponse]:
        @csrf_exempt
        @require_POST
        @wraps(view)
        def wrapper(request: HttpRequest, account: str) -> HttpResponse:
            request.body  # noqa: B018 - read the raw bytes before the form parser consumes them
            line = account_or_404(account, ChannelKind.PHONE)
            try:
                config: PhoneConfig = load_config(line)
                token = config.auth_token
            except ConfigError:
                return HttpResponse("auth token not configured", status=503)
            params = {key: request.POST.getlist(key) for key in request.POST}
            if not twilio_signature_valid(
                auth_token=token,
                url=public_url(request, config.webhook_base_url),
                params=params,
                header=request.headers.get("X-Twilio-Signature", ""),
            ):
                return HttpResponseForbidden("bad signature")
            call = request.POST.get("CallSid", "")
            # a caller can pass the menu more than once: those posts differ by their body
            suffix = (
                f":{hashlib.sha256(request.body).hexdigest()[:16]}"
                if event in ("menu", "dial")
                else ""
            )
            inbound_store(
                account=line,
                external_id=f"call:{call}:{event}{suffix}",
                raw=request.body,
                content_type=content_type(event, request.GET.get("option", "")[:1]),
            )
            return view(request, line, config)

        return wrapper

    return wrap


def _url(name: str, line: ChannelAccount, option: str = "") -> str:
    url = reverse(f"channels_in:voice-{name}", args=[line.name])
    return f"{url}?option={option}" if option else url


def _xml(body: str) -> HttpResponse:
    return HttpResponse(body, content_type="text/xml")


@voice_webhook("incoming")
def incoming(request: HttpRequest, line: ChannelAccount, config: PhoneConfig) -> HttpResponse:
    return _xml(
        twiml.greeting(config, menu_url=_url("menu", line), voicemail_url=_url("voicemail", line))
    )


@voice_webhook("menu")
def menu(request: HttpRequest, line: ChannelAccount, config: PhoneConfig) -> HttpResponse:
    option = config.option(request.POST.get("Digits", "")[:1])
    if option is None:
        return _xml(twiml.not_an_option(config, again_url=_url("incoming", line)))
    if option.forward_to:
        return _xml(
            twiml.connect(
                config,
                label=option.label,
                number=option.forward_to,
                dial_url=_url("dial", line, option.digit),
            )
        )
    return _xml(twiml.redirect(_url("voicemail", line, option.digit)))


@voice_webhook("dial")
def dial(request: HttpRequest, line: ChannelAccount, config: PhoneConfig) -> HttpResponse:
    if request.POST.get("DialCallStatus") == "completed":
        return _xml(twiml.goodbye(config))
    return _xml(twiml.redirect(_url("voicemail", line, request.GET.get("option", "")[:1])))


@voice_webhook("voicemail")
def voicemail(request: HttpRequest, line: ChannelAccount, config: PhoneConfig) -> HttpResponse:
    option = request.GET.get("option", "")[:1]
    return _xml(
        twiml.voicemail(
            config,
            recording_url=_url("recording", line, option),
            transcription_url=_url("transcription", line, option),
        )
    )


@voice_webhook("recording")
def recording(request: HttpRequest, line: ChannelAccount, config: PhoneConfig) -> HttpResponse:
    return _xml(twiml.goodbye(config))


@voice_webhook("transcription")
def transcription(request: HttpRequest, line: ChannelAccount, config: PhoneConfig) -> HttpResponse:
    return HttpResponse(status=204)


@voice_webhook("status")
def status(request: HttpRequest, line: ChannelAccount, config: PhoneConfig) -> HttpResponse:
    return HttpResponse(status=204)


@login_required
@require_http_methods(["GET", "POST"])
def call_log(request: HttpRequest, number: int) -> HttpResponse:
    """An agent records a call they took or made on a ticket."""
    ticket = access_ticket_by_number(request.user, number)
    form = CallLogForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            ticket_services.call_log(ticket=ticket, agent=request.user, **form.cleaned_data)
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("desk:ticket", number=ticket.number)
    return render(
        request,
        "channels_in/voice/call_log.html",
        {"ticket": ticket, "form": form},
        status=400 if form.errors else 200,
    )

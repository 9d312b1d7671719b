"""HTTP side of live chat: the widget's endpoints (called cross-origin from the sites that embed
it), the demo host page, and the agents' chat inbox."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from tickets.models import Attachment, Group
from tickets.roles import Role, is_agent
from tickets.services import ServiceError
from tickets.types import IncomingAttachment
from tickets.views.downloads import attachment_download

from ..config import ChatConfig, ConfigError, load_config
from ..consumers import origin_allowed
from ..models import ChannelAccount, ChannelKind, ChatLine
from ..webhooks import account_or_404
from . import selectors
from . import services as chat
from .tokens import file_from_token, visitor_from_token

WidgetView = Callable[[HttpRequest, ChannelAccount, ChatConfig], HttpResponse]
UPLOADS_PER_MINUTE = 10


def cookie_name(account: ChannelAccount) -> str:
    return f"hd_chat_{account.pk}"


def widget_endpoint(view: WidgetView) -> Callable[[HttpRequest, str], HttpResponse]:
    """Resolve the chat account, refuse origins it does not allow, answer CORS preflights,
    and label the answer for the allowed origin (with credentials, for the visitor cookie).
    CSRF does not apply: these endpoints act on the signed visitor token, not on a login."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, account: str) -> HttpResponse:
        chat_account = account_or_404(account, ChannelKind.CHAT)
        try:
            config = load_config(chat_account)
        except ConfigError as exc:
            raise Http404("This chat is not configured.") from exc
        origin = request.headers.get("Origin", "")
        if origin and not origin_allowed(origin, host=request.get_host(), config=config):
            return JsonResponse({"error": "origin not allowed"}, status=403)
        if request.method == "OPTIONS":
            response = HttpResponse(status=204)
            response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response["Access-Control-Allow-Headers"] = "Content-Type"
            response["Access-Control-Max-Age"] = "600"
        else:
            response = view(request, chat_account, config)
        if origin:
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Allow-Credentials"] = "true"
        response["Vary"] = "Origin"
        return response

    return wrapper


def _ws_path(account: ChannelAccount) -> str:
    return f"/ws/chat/{account.name}/"


@widget_endpoint
def widget_config(
    request: HttpRequest, account: ChannelAccount, config: ChatConfig
) -> HttpResponse:
    if request.method != "GET":
        return JsonResponse({"error": "GET only"}, status=405)
    availability = chat.chat_availability(account=account, config=config)
    return JsonResponse(
        {
            "title": config.title,
            "welcome": config.welcome,
            "offline": config.offline_message,
            "color": config.color,
            "online": availability.online,
            "reason": availability.reason,
            "max_message_chars": config.max_message_chars,
            "max_upload_bytes": config.max_upload_bytes,
            "ws": _ws_path(account),
        }
    )


@widget_endpoint
def widget_session(
    request: HttpRequest, account: ChannelAccount, config: ChatConfig
) -> HttpResponse:
    if request.method != "POST":
        return JsonResponse({"error": "POST only"}, status=405)
    try:
        data = json.loads(request.body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return JsonResponse({"error": "expected JSON"}, status=400)
    if not isinstance(data, dict):
        return JsonResponse({"error": "expected a JSON object"}, status=400)
    token = str(data.get("token") or request.COOKIES.get(cookie_name(account), ""))
    try:
        session = chat.visitor_session_start(
            account=account,
            token=token,
            name=str(data.get("name") or ""),
            email=str(data.get("email") or ""),
            page_url=str(data.get("page") or ""),
        )
    except ServiceError as exc:
        return JsonResponse({"error": str(exc), "field": "email"}, status=400)
    response = JsonResponse(
        {
            "token": session.token,
            "conversation": session.conversation.pk,
            "status": session.conversation.status,
            "name": session.conversation.visitor_name,
            "email": session.conversation.visitor_email,
            "ws": _ws_path(account),
        }
    )
    # Same-site embeds also recognise the visitor by cookie; cross-site ones keep the token in
    # the host page's storage (browsers drop third-party cookies).
    secure = request.is_secure()
    response.set_cookie(
        cookie_name(account),
        session.token,
        max_age=400 * 24 * 3600,
        httponly=True,
        secure=secure,
        samesite="None" if secure else "Lax",
    )
    return response


@widget_endpoint
def widget_upload(
    request: HttpRequest, account: ChannelAccount, config: ChatConfig
) -> HttpResponse:
    if request.method != "POST":
        return JsonResponse({"error": "POST only"}, status=405)
    visitor = visitor_from_token(request.POST.get("token", ""), account_id=account.pk)
    conversation = (
        selectors.latest_conversation(account_id=account.pk, visitor_id=visitor)
        if visitor
        else None
    )
    upload = request.FILES.get("file")
    if conversation is None or upload is None:
        return JsonResponse({"error": "a session token and a file are needed"}, status=400)
    if upload.size is None or upload.size > config.max_upload_bytes:
        return JsonResponse({"error": "file too large"}, status=413)
    key = f"chat-upload:{account.pk}:{visitor}"
    cache.add(key, 0, timeout=60)
    if cache.incr(key) > UPLOADS_PER_MINUTE:
        return JsonResponse({"error": "too many files; wait a minute"}, status=429)
    client_id = request.POST.get("client_id", "")[:64] or f"upload-{upload.name}-{upload.size}"
    try:
        posted = chat.visitor_message_post(
            conversation=conversation,
            config=config,
            text=request.POST.get("text", "")[:2000],
            client_id=client_id,
            attachment=IncomingAttachment(
                filename=(upload.name or "file")[:255],
                content_type=upload.content_type or "application/octet-stream",
                payload=upload.read(),
            ),
        )
    except ServiceError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"seq": posted.line.seq, "conversation": posted.conversation.pk})


@require_GET
def chat_file(request: HttpRequest, token: str) -> FileResponse:
    """A file of a conversation, for whoever holds its signed link (the visitor, the agents)."""
    found = file_from_token(token)
    if found is None:
        raise Http404("No such file.")
    attachment_id, conversation_id = found
    attachment = Attachment.objects.filter(
        pk=attachment_id,
        message__in=ChatLine.objects.filter(conversation_id=conversation_id).values("message"),
    ).first()
    if attachment is None:
        raise Http404("No such file.")
    return attachment_download(attachment)


@require_GET
def demo(request: HttpRequest) -> HttpResponse:
    """A plain page that embeds the widget with its one script tag, as a customer's site would."""
    accounts = ChannelAccount.objects.filter(kind=ChannelKind.CHAT, active=True).order_by("id")
    name = request.GET.get("account", "")
    account = accounts.filter(name=name).first() if name else accounts.first()
    if account is None:
        raise Http404("No chat account is set up.")
    return render(request, "channels_in/chat/demo.html", {"account": account})


# --- the agents' chat inbox -----------------------------------------------------------------


def _agent_only(request: HttpRequest) -> None:
    if not is_agent(request.user):
        raise PermissionDenied("The chat inbox is for agents.")


def _transfer_choices() -> dict[str, Any]:
    agents = (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=[r.value for r in Role])
        .distinct()
        .select_related("agent_profile")
        .order_by("first_name", "username")
    )
    return {
        "agents": [(a.pk, selectors.person(a)["name"]) for a in agents],
        "groups": Group.objects.order_by("name"),
    }


def _pane(request: HttpRequest, conversation_id: int, *, error: str = "") -> HttpResponse:
    conversation = selectors.access_conversation(request.user, conversation_id)
    lines = selectors.lines_after(conversation.pk, 0)
    return render(
        request,
        "channels_in/chat/_conversation.html",
        {
            "conversation": conversation,
            "lines": lines,
            "error": error,
            "state": selectors.conversation_state(conversation),
            **_transfer_choices(),
        },
    )


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    _agent_only(request)
    selected = request.GET.get("c", "")
    return render(
        request,
        "channels_in/chat/inbox.html",
        {
            "inbox": selectors.inbox(request.user),
            "selected": int(selected) if selected.isdigit() else None,
        },
    )


@login_required
@require_GET
def inbox_list(request: HttpRequest) -> HttpResponse:
    _agent_only(request)
    return render(request, "channels_in/chat/_list.html", {"inbox": selectors.inbox(request.user)})


@login_required
@require_GET
def inbox_conversation(request: HttpRequest, pk: int) -> HttpResponse:
    _agent_only(request)
    return _pane(request, pk)


def _act(request: HttpRequest, pk: int, action: Callable[[Any], Any]) -> HttpResponse:
    _agent_only(request)
    conversation = selectors.access_conversation(request.user, pk)
    error = ""
    try:
        action(conversation)
    except ServiceError as exc:
        error = str(exc)
    if not request.htmx:  # type: ignore[attr-defined]
        return redirect(reverse("channels_in:chat-inbox") + f"?c={pk}")
    return _pane(request, pk, error=error)


@login_required
@require_POST
def inbox_accept(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, lambda c: chat.chat_accept(conversation=c, agent=request.user))


@login_required
@require_POST
def inbox_end(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, lambda c: chat.chat_end(conversation=c, actor=request.user))


@login_required
@require_POST
def inbox_transfer(request: HttpRequest, pk: int) -> HttpResponse:
    def transfer(conversation: Any) -> Any:
        kind, _, ident = request.POST.get("to", "").partition(":")
        if kind == "agent" and ident.isdigit():
            agent = get_user_model().objects.filter(pk=int(ident), is_active=True).first()
            if agent is None:
                raise ServiceError("No such agent.")
            return chat.chat_transfer(conversation=conversation, actor=request.user, agent=agent)
        if kind == "group" and ident.isdigit():
            group = Group.objects.filter(pk=int(ident)).first()
            if group is None:
                raise ServiceError("No such group.")
            return chat.chat_transfer(conversation=conversation, actor=request.user, group=group)
        raise ServiceError("Choose an agent or a group to transfer to.")

    return _act(request, pk, transfer)

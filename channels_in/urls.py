from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from . import delivery_views
from .chat import views as chat
from .messenger import views as messenger
from .sms import views as sms
from .telegram import views as telegram
from .voice import views as voice
from .whatsapp import views as whatsapp

app_name = "channels_in"

urlpatterns: list[URLPattern | URLResolver] = [
    # an agent retries an outbound message whose delivery failed
    path(
        "messages/<int:message_id>/retry/",
        delivery_views.delivery_retry,
        name="delivery-retry",
    ),
    # email: provider inbound webhooks, mailbox settings and connection checks
    path("email/", include("channels_in.email.urls")),
    # live chat: the agents' inbox, the demo host page, and the widget's endpoints
    path("chat/inbox/", chat.inbox, name="chat-inbox"),
    path("chat/inbox/list/", chat.inbox_list, name="chat-inbox-list"),
    path("chat/inbox/<int:pk>/", chat.inbox_conversation, name="chat-conversation"),
    path("chat/inbox/<int:pk>/accept/", chat.inbox_accept, name="chat-accept"),
    path("chat/inbox/<int:pk>/transfer/", chat.inbox_transfer, name="chat-transfer"),
    path("chat/inbox/<int:pk>/end/", chat.inbox_end, name="chat-end"),
    path("chat/demo/", chat.demo, name="chat-demo"),
    path("chat/file/<str:token>/", chat.chat_file, name="chat-file"),
    path("chat/<slug:account>/config/", chat.widget_config, name="chat-config"),
    path("chat/<slug:account>/session/", chat.widget_session, name="chat-session"),
    path("chat/<slug:account>/upload/", chat.widget_upload, name="chat-upload"),
    # messaging apps: one webhook per account (Meta's also answer the GET handshake)
    path("telegram/<slug:account>/webhook/", telegram.webhook, name="telegram-webhook"),
    path("whatsapp/<slug:account>/webhook/", whatsapp.webhook, name="whatsapp-webhook"),
    path("messenger/<slug:account>/webhook/", messenger.webhook, name="messenger-webhook"),
    # SMS and voice (Twilio-compatible)
    path("sms/<slug:account>/inbound/", sms.inbound, name="sms-inbound"),
    path("sms/<slug:account>/status/", sms.status, name="sms-status"),
    path("voice/calls/<int:number>/", voice.call_log, name="voice-call-log"),
    path("voice/<slug:account>/incoming/", voice.incoming, name="voice-incoming"),
    path("voice/<slug:account>/menu/", voice.menu, name="voice-menu"),
    path("voice/<slug:account>/dial/", voice.dial, name="voice-dial"),
    path("voice/<slug:account>/voicemail/", voice.voicemail, name="voice-voicemail"),
    path("voice/<slug:account>/recording/", voice.recording, name="voice-recording"),
    path("voice/<slug:account>/transcription/", voice.transcription, name="voice-transcription"),
    path("voice/<slug:account>/status/", voice.status, name="voice-status"),
]

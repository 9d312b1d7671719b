from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from ..roles import is_agent


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("desk:queue" if is_agent(request.user) else "portal:tickets")

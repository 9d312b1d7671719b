"""The Django admin, opened to the help desk's Admin role.

Django's stock site lets in only users with "staff status"; here the Admin role (an auth
group managed like the other roles) is what counts, so promoting someone to Admin is one
change, not two. Agents and supervisors keep working in the desk, not here.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest

from tickets.roles import is_admin


class HelpdeskAdminSite(admin.AdminSite):
    site_header = "Helpdesk administration"
    site_title = "Helpdesk admin"
    index_title = "Settings and data"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and (user.is_staff or is_admin(user)))


class HelpdeskAdminConfig(AdminConfig):
    default_site = "helpdesk.admin_site.HelpdeskAdminSite"

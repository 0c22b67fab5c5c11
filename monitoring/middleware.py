"""Access control for an exposed service (settings.REQUIRE_AUTH): API by token or login, pages by login."""
from __future__ import annotations

from typing import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse

from monitoring.access import api_token_for_request
from monitoring.http_errors import API_PREFIXES, is_api_path

# Reachable without credentials: the logins (the pages' and the admin's), health is for probes.
OPEN_PREFIXES = ("/accounts/login/", "/admin/", "/static/", *(f"/{prefix}health" for prefix in API_PREFIXES if prefix))


class AccessControlMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.api_token = None
        path = request.path
        is_api = is_api_path(path)
        if is_api:
            request.api_token = api_token_for_request(request)
        if settings.REQUIRE_AUTH and not path.startswith(OPEN_PREFIXES):
            signed_in = request.user.is_authenticated
            if is_api and request.api_token is None and not signed_in:
                return JsonResponse(
                    {"status": "Unauthorized", "detail": "send 'Authorization: Bearer <token>' (tokens: admin > API tokens)"},
                    status=401,
                )
            if not is_api and not signed_in:
                return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        return self.get_response(request)

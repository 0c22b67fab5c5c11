"""Access control for an exposed service (settings.REQUIRE_AUTH): API by token or login, pages by login;
and the Content-Security-Policy every answer carries."""
from __future__ import annotations

from typing import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http import HttpRequest, HttpResponse, JsonResponse

from monitoring.access import api_token_for_request, request_scope
from monitoring.http_errors import API_PREFIXES, is_api_path, unknown_path

# Reachable without credentials: the logins (the pages' and the admin's), health is for probes.
ADMIN_PREFIX = "/admin/"
OPEN_PREFIXES = ("/accounts/login/", ADMIN_PREFIX, "/static/", *(f"/{prefix}health" for prefix in API_PREFIXES if prefix))


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
        if path.startswith(ADMIN_PREFIX) and not request_scope(request).is_staff:
            # The admin shows every store: an owner's user, even one marked is_staff, is not let in (SPEC 11).
            return unknown_path(request)
        return self.get_response(request)


# The pages load only their own script and styles (static/monitoring/), never inline code,
# so an injected <script> or style cannot run. Swagger UI (the API docs) and Django's admin
# set inline styles of their own: there, and only there, inline styles are allowed too.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
THIRD_PARTY_PAGES_POLICY = CONTENT_SECURITY_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
THIRD_PARTY_PAGES = ("/admin/", *(f"/{prefix}docs" for prefix in API_PREFIXES if prefix))


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        relaxed = request.path.startswith(THIRD_PARTY_PAGES)
        response.headers.setdefault("Content-Security-Policy", THIRD_PARTY_PAGES_POLICY if relaxed else CONTENT_SECURITY_POLICY)
        return response


class CappedUploadHandler(TemporaryFileUploadHandler):
    """Uploads go to a temporary file as they arrive, and stop at SOURCE_MAX_BYTES.

    Django reads a multipart body before any view runs (the CSRF check reads the form), so
    a cap in the view would come after the disk had taken the whole body: here the upload
    stops at the cap, what was written is dropped, and the view finds
    `request.upload_over_cap` set (data page: 413).
    """

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None) -> None:
        self.received = 0
        # Refused at the first byte of a file when the body says it is over the cap.
        self.over_cap = content_length > settings.SOURCE_MAX_BYTES

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.over_cap or self.received > settings.SOURCE_MAX_BYTES:
            self.file.close()  # a temporary file: closing deletes it
            self._refuse()
        return super().receive_data_chunk(raw_data, start)

    def _refuse(self) -> None:
        self.request.upload_over_cap = True
        # The rest of the body is read and discarded, so the client still gets the answer.
        raise StopUpload(connection_reset=False)

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from monitoring import http_errors
from monitoring.api.urls import latest_urls, root_urls, v1_urls
from monitoring.http_errors import API_LATEST, API_V1, ROOT

urlpatterns = [
    path("admin/", admin.site.urls),
    # The pages' own login and logout (templates/registration/): logout by POST only (Django's view).
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The JSON API (docs/api.md): all of it under /api/v1/ and /api/, the original two endpoints also at the root.
    path(API_V1, v1_urls),
    path(API_LATEST, latest_urls),
    path(ROOT, root_urls),
    # Any other API path: the JSON 404, even with DEBUG on (whose 404 page is HTML).
    re_path(http_errors.UNKNOWN_API_PATH, http_errors.unknown_path),
    path("", include("monitoring.urls")),
]

# JSON for API paths, Django's pages elsewhere.
handler400 = "monitoring.http_errors.bad_request"
handler404 = "monitoring.http_errors.page_not_found"
handler500 = "monitoring.http_errors.server_error"

from django.contrib import admin
from django.urls import include, path, re_path

from monitoring import api

urlpatterns = [
    path("admin/", admin.site.urls),
    # The JSON API (docs/api.md): all of it under /api/v1/ and /api/, the original two endpoints also at the root.
    path("api/v1/", api.v1_urls),
    path("api/", api.latest_urls),
    path("", api.root_urls),
    # Any other API path: the JSON 404, even with DEBUG on (whose 404 page is HTML).
    re_path(r"^(?:api/|trigger_report|get_report)", api.unknown_path),
    path("", include("monitoring.urls")),
]

# JSON for API paths, Django's pages elsewhere.
handler400 = "monitoring.api.bad_request"
handler404 = "monitoring.api.page_not_found"
handler500 = "monitoring.api.server_error"

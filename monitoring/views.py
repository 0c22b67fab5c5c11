"""HTML pages. Thin: they read through the service layer and render templates."""
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from monitoring.models import StatusPoll, Store


def index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "monitoring/index.html",
        {"store_count": Store.objects.count(), "poll_count": StatusPoll.objects.count()},
    )

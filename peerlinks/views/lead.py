"""Placeholder views, replaced as each page is built."""

from django.http import HttpRequest, HttpResponse


def lead_view(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)

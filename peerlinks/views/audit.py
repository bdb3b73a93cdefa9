"""Placeholder views, replaced as each page is built."""

from django.http import HttpRequest, HttpResponse


def audit_list(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)

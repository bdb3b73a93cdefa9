"""Placeholder views, replaced as each page is built."""

from django.http import HttpRequest, HttpResponse


def gateway_list(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)


def gateway_detail(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)

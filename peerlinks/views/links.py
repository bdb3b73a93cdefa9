"""Placeholder views, replaced as each page is built."""

from django.http import HttpRequest, HttpResponse


def link_list(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)


def link_export(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)


def link_detail(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)


def link_status(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)


def link_local_fields(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)

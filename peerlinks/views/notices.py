"""Placeholder views, replaced as each page is built."""

from django.http import HttpRequest, HttpResponse


def notice_list(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)


def notice_mark_read(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)

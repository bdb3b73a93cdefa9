"""Placeholder views, replaced as each page is built."""

from django.http import HttpRequest, HttpResponse


def link_create(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)


def peer_options(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)


def link_edit(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)


def link_delete(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)


def change_list(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)


def change_detail(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)


def change_cancel(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)

"""Placeholder views, replaced as each page is built."""

from django.http import HttpRequest, HttpResponse


def change_edit(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)


def change_approve(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)


def change_reject(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)


def change_retry(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)


def change_comment(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)


def approval_queue(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)

"""Facts a page reads once: several parts of one page ask for the same small tables (the accounts, their
regions' last syncs) — the banner, the navigation, a filter's choices, a column shown only with several
accounts. Within a request that reads (GET or HEAD), the first answer of a `@once_per_request` function is
kept for the rest of the request; a request that writes, a task, a command or a test calling a service
reads afresh each time, so nothing it wrote is ever answered from before.
"""

import functools
from collections.abc import Callable
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

from django.http import HttpRequest, HttpResponse

P = ParamSpec("P")
R = TypeVar("R")

_answers: ContextVar[dict | None] = ContextVar("answers_of_this_request", default=None)


def once_per_request(function: Callable[P, R]) -> Callable[P, R]:
    """Keep `function`'s answer for the rest of a reading request (per arguments, which must be
    hashable). The answer is shared: callers must not change it."""

    @functools.wraps(function)
    def answer(*args: P.args, **kwargs: P.kwargs) -> R:
        answers = _answers.get()
        if answers is None:
            return function(*args, **kwargs)
        key = (function, args, tuple(sorted(kwargs.items())))
        if key not in answers:
            answers[key] = function(*args, **kwargs)
        return answers[key]

    return answer


def remember(function: Callable[..., R], answer: R, *args: object) -> None:
    """Give `function` (a `@once_per_request` one) its answer for `args` for the rest of this reading
    request, when another read brought it along; outside a reading request, nothing."""
    answers = _answers.get()
    if answers is not None:
        answers[(function.__wrapped__, args, ())] = answer


class OncePerRequestMiddleware:
    """Opens the scope `once_per_request` keeps answers in, for requests that only read."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        token = _answers.set({})
        try:
            return self.get_response(request)
        finally:
            _answers.reset(token)

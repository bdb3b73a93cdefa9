"""What answers under /api/ outside the API's own operations."""

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from peerlinks.api.problems import problem_response


@csrf_exempt
def not_found(request: HttpRequest) -> HttpResponse:
    """A path the API does not have: a problem-details 404 (a script gets JSON, not the 404 page)."""
    return problem_response(404, detail=_("The API has no such path: see /api/v1/docs."))


def method_not_allowed_as_problem(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """`view`, with its 405 for a method the path does not take (ninja's is plain text) as a problem."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if response.status_code != 405 or response.get("Content-Type", "").startswith("application/problem"):
            return response
        allowed = response.get("Allow", "")
        detail = _("This path takes {methods} only.").format(methods=allowed)
        return problem_response(405, detail=detail, headers={"Allow": allowed})

    return wrapped

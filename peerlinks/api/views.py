"""What answers under /api/ outside the API's own operations."""

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from peerlinks.api.problems import problem_response


@csrf_exempt
def not_found(request: HttpRequest) -> HttpResponse:
    """A path the API does not have: a problem-details 404 (a script gets JSON, not the 404 page)."""
    return problem_response(404, detail=_("The API has no such path: see /api/v1/docs."))

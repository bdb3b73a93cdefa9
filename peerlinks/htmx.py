"""How every view answers htmx: the one rule for page or fragment, and the `Vary` it needs.

A fragment only for an htmx request that is neither boosted (a navigation: it swaps the whole body) nor a
history restore (htmx lost its snapshot and puts the answer into <body>). Everything else gets the page.
"""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseClientRedirect


def wants_fragment(request: HttpRequest) -> bool:
    """Whether to answer with the piece of the page htmx asked for, rather than the page."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


# The request headers `wants_fragment` reads: each one can turn the page into the fragment or back.
HTMX_HEADERS = ("HX-Request", "HX-Boosted", "HX-History-Restore-Request")


def vary_on_htmx(response: HttpResponse) -> HttpResponse:
    """Caches must keep the page and the fragment of one URL apart."""
    patch_vary_headers(response, HTMX_HEADERS)
    return response


def render_htmx(
    request: HttpRequest,
    page: str,
    context: dict[str, Any],
    *,
    fragment: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """`fragment` when htmx asks for it, else `page` with `status`.

    A fragment always answers 200: htmx 2 swaps only 2xx answers, and a refused action or an invalid
    form is shown inside the fragment itself.
    """
    if fragment is not None and wants_fragment(request):
        return vary_on_htmx(render(request, fragment, context))
    return vary_on_htmx(render(request, page, context, status=status))


def render_whole_page(
    request: HttpRequest, page: str, context: dict[str, Any], *, status: int, show: str
) -> HttpResponse:
    """`page` with `status`, to a plain request and to htmx alike: htmx puts its <main> in place of the
    page's, whichever element asked, and scrolls to `show` (what htmx's `show:` takes, e.g. `#id:top`).

    For an answer about the whole page rather than one panel: a 409 Conflict carrying the fresh state
    (base.html's htmx-config has htmx swap a 409, which htmx 2 would otherwise drop as an error).
    """
    response = render(request, page, context, status=status)
    if request.htmx:
        response["HX-Retarget"] = "main"
        response["HX-Reselect"] = "main"
        response["HX-Reswap"] = f"outerHTML show:{show}"
    return vary_on_htmx(response)


def leave_to(request: HttpRequest, url: str) -> HttpResponse:
    """Go to another page: htmx is told to navigate (HX-Redirect), a plain form post is redirected."""
    response = HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    return vary_on_htmx(response)

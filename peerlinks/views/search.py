"""`/search/`: one box that finds links, gateways, routers, change requests, owners, tickets and labels."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from peerlinks.forms import SearchForm
from peerlinks.permissions import VIEW, permission_required_or_403
from peerlinks.services import search


@permission_required_or_403(VIEW)
@require_GET
def search_results(request: HttpRequest) -> HttpResponse:
    """What matches the query, grouped by kind, each row linking to its page."""
    form = SearchForm(request.GET)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    context = {
        "form": form,
        "results": search.search_everything(query=query, user=request.user),
        "limit": search.LIMIT,
    }
    return render(request, "peerlinks/search_list.html", context)

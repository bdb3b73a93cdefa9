"""`/account/api-tokens/`: one's own personal API tokens: make one (its secret shown this once), see them
with their last use, revoke one."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from peerlinks.forms import ApiTokenForm
from peerlinks.services import tokens


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """Your tokens, and the form making a new one; the new token's secret is shown once, on this answer."""
    form = ApiTokenForm(request.POST if request.method == "POST" else None)
    new = None
    if form.is_bound and form.is_valid():
        new = tokens.create_token(user=request.user, **form.cleaned_data)
        form = ApiTokenForm()
    context = {"form": form, "new": new, "tokens": tokens.tokens_of(request.user)}
    response = render(request, "peerlinks/api_token_list.html", context, status=400 if form.errors else 200)
    response["Cache-Control"] = "no-store"  # the secret must not stay in any cache
    return response


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke one of your tokens: it stops working at once."""
    try:
        token = tokens.revoke_token(token_id=pk, user=request.user)
    except tokens.TokenNotFound:
        raise Http404 from None
    messages.success(request, _("Token {name} revoked.").format(name=token.name))
    return redirect("peerlinks:api_tokens")

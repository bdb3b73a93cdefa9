"""`/lead/`: the team lead's view: pending approvals, links by status, errors, provisioning, stale data."""

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from peerlinks.forms import LeadPeriodForm
from peerlinks.htmx import render_htmx, wants_fragment
from peerlinks.permissions import VIEW, permission_required_or_403
from peerlinks.presentation.charts import provisioning_chart
from peerlinks.services.lead import DEFAULT_PERIOD, build_lead_summary, build_period_stats


@permission_required_or_403(VIEW)
@require_GET
def lead_view(request: HttpRequest) -> HttpResponse:
    """The whole view (of one account when one is chosen), or only its period section when htmx asks for
    another period."""
    form = LeadPeriodForm(request.GET, user=request.user)
    form.is_valid()  # an invalid field is left out: the default period, every account
    days = form.cleaned_data.get("days", DEFAULT_PERIOD)
    account = form.cleaned_data.get("account")
    period = build_period_stats(days=days, user=request.user, account=account)
    context = {
        "form": form,
        "account": account,
        "period": period,
        "chart": provisioning_chart(period.provisioning),
        "period_error": ""
        if "days" not in form.errors
        else _("Unknown period; showing the last {days} days.").format(days=DEFAULT_PERIOD),
    }
    if not wants_fragment(request):
        # the rest of the page, which the period does not change
        context["lead"] = build_lead_summary(user=request.user, account=account)
    return render_htmx(request, "peerlinks/lead.html", context, fragment="peerlinks/_lead_period.html")

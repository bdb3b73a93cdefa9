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
    """The whole view, or only its period section when htmx asks for another period."""
    form = LeadPeriodForm(request.GET)
    days = form.cleaned_data["days"] if form.is_valid() else DEFAULT_PERIOD
    period = build_period_stats(days=days)
    context = {
        "period": period,
        "chart": provisioning_chart(period.provisioning),
        "period_error": ""
        if form.is_valid()
        else _("Unknown period; showing the last {days} days.").format(days=DEFAULT_PERIOD),
    }
    if not wants_fragment(request):
        context["lead"] = build_lead_summary()  # the rest of the page, which the period does not change
    return render_htmx(request, "peerlinks/lead.html", context, fragment="peerlinks/_lead_period.html")

"""The team lead's view: pending approvals, links by status, errors, provisioning time, stale data."""

from django import forms
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from peerlinks.services.lead import DEFAULT_PERIOD, PERIODS, build_lead_summary, build_period_stats


class LeadPeriodForm(forms.Form):
    """The period the provisioning times and failed requests cover."""

    days = forms.TypedChoiceField(
        choices=[(days, f"Last {days} days") for days in PERIODS],
        coerce=int,
        required=False,
        empty_value=DEFAULT_PERIOD,
    )


@login_required
@permission_required("peerlinks.view_peerlink", raise_exception=True)
@require_GET
def lead_view(request: HttpRequest) -> HttpResponse:
    """The whole view, or only its period section when htmx asks for another period."""
    form = LeadPeriodForm(request.GET)
    days = form.cleaned_data["days"] if form.is_valid() else DEFAULT_PERIOD
    context = {
        "period": build_period_stats(days=days),
        "period_error": "" if form.is_valid() else f"Unknown period; showing the last {DEFAULT_PERIOD} days.",
    }
    if request.htmx and not request.htmx.boosted:
        return render(request, "peerlinks/_lead_period.html", context)
    context["lead"] = build_lead_summary()
    return render(request, "peerlinks/lead.html", context)

"""GET filters of the list pages (django-filter): one FilterSet per list, shared by the page and its export.

Invalid values (forged choices, bad dates) become form errors and are left out of the filtering; they
never raise.
"""

from collections.abc import Iterator
from html import escape as esc

import django_filters
from django import forms
from django.apps import apps
from django.db.models import QuerySet
from django.forms.utils import flatatt
from django.http import HttpRequest
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

from peerlinks.forms import offer_known_accounts
from peerlinks.models import AuditEvent, CloudAccount, Gateway, PeerLink, cached_regions


def region_choices() -> list[tuple[str, str]]:
    return [(region, region) for region in dict.fromkeys(project.region for project in cached_regions())]


class PlainSelect(forms.Select):
    """The same <select> as Django's, built in Python: Django renders every <option> through a template,
    and builds a dict of attributes for each, which for the gateway list of a filter form cost more than
    the page's own query. Flat choices only (no groups), one chosen value."""

    def render(self, name: str, value: object, attrs: dict | None = None, renderer: object = None) -> str:
        attrs = self.build_attrs(self.attrs, attrs)
        chosen = self.format_value(value)
        options = []
        for option_value, label in self.choices:
            option = "" if option_value is None else str(option_value)
            selected = " selected" if option in chosen else ""
            # As Django's escape, without its lazy-text wrapper (two per option, 80 options a list page).
            options.append(f'<option value="{esc(option)}"{selected}>{esc(str(label))}</option>')
        shown = mark_safe("".join(options))  # each value and label escaped above
        return format_html('<select name="{}"{}>{}</select>', name, flatatt(attrs), shown)


class PlainInput(forms.Widget):
    """Django's <input> (forms/widgets/input.html with attrs.html) built in Python: each input of a filter
    form otherwise renders two templates, about a twentieth of a list page's CPU for its six inputs. The
    same HTML, character for character (tests/test_forms.py compares them)."""

    def render(self, name: str, value: object, attrs: dict | None = None, renderer: object = None) -> str:
        widget = self.get_context(name, value, attrs)["widget"]
        html = [
            f'<input type="{conditional_escape(widget["type"])}" name="{conditional_escape(widget["name"])}"'
        ]
        if widget["value"] is not None:
            html.append(f' value="{conditional_escape(str(widget["value"]))}"')
        for key, attr in widget["attrs"].items():
            if attr is not False:
                html.append(f" {conditional_escape(key)}")
                if attr is not True:
                    html.append(f'="{conditional_escape(str(attr))}"')
        html.append(">")
        return mark_safe("".join(html))  # each part escaped above, as the template's autoescape does


class PlainTextInput(PlainInput, forms.TextInput):
    pass


class PlainHiddenInput(PlainInput, forms.HiddenInput):
    pass


class PlainCheckboxInput(PlainInput, forms.CheckboxInput):
    pass


def _gateways(request: HttpRequest | None) -> QuerySet:
    gateways = Gateway.objects.select_related("project").order_by("name")
    return gateways.visible_to(request.user) if request is not None else gateways


def _accounts(request: HttpRequest | None) -> QuerySet:
    accounts = CloudAccount.objects.all()
    return accounts.visible_to(request.user) if request is not None else accounts


class AccountChoiceFilter(django_filters.ModelChoiceFilter):
    """A cloud account chosen by its name (`account=team-b`, kept in links and exports), among those the
    user may read; `field_name` is the path from the filtered rows to their account."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("widget", PlainSelect)
        kwargs.setdefault("queryset", _accounts)
        kwargs.setdefault("to_field_name", "name")
        kwargs.setdefault("empty_label", _("All accounts"))
        kwargs.setdefault("label", _("Account"))
        super().__init__(**kwargs)

    @property
    def field(self) -> forms.ModelChoiceField:
        field = super().field
        request = self.get_request()
        offer_known_accounts(field, user=request.user if request is not None else None)
        return field


class _GatewayOptions(forms.models.ModelChoiceIterator):
    """The gateway menu's options, read as values rather than as a gateway and a project instance each (the
    list page's costliest rows), and only when the menu is drawn."""

    def __iter__(self) -> Iterator[tuple[str, str]]:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for cloud_id, name, region in self.queryset.values_list("cloud_id", "name", "project__region"):
            yield (cloud_id, f"{name} ({region})")


class _GatewayField(django_filters.fields.ModelChoiceField):
    iterator = _GatewayOptions


class GatewayChoiceFilter(django_filters.ModelChoiceFilter):
    """A gateway chosen by its cloud id, labelled with its name and region."""

    field_class = _GatewayField

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("widget", PlainSelect)
        kwargs.setdefault("queryset", _gateways)
        kwargs.setdefault("to_field_name", "cloud_id")
        super().__init__(**kwargs)


class ExplainedFilterSet(django_filters.FilterSet):
    """A FilterSet that can say, field by field, which of its filters it ignored and why."""

    @property
    def ignored(self) -> str:
        """Which filters had an invalid value (and so were left out of the filtering) and why, in a
        sentence; "" when none."""
        form = self.form
        each = [
            gettext("{label}: {errors}").format(label=form[name].label, errors=" ".join(errors))
            for name, errors in form.errors.items()
        ]
        if not each:
            return ""
        return gettext("Some filters were ignored: {filters}").format(
            filters=pgettext("between the items of a list", "; ").join(each)
        )


class StableOrderingFilter(django_filters.OrderingFilter):
    """Column ordering with the cloud id as tie-breaker, so pages never overlap or skip rows. The tie-breaker
    runs the column's way: one index on (column, cloud id) then serves both directions, read backwards for
    the descending one."""

    def filter(self, qs: QuerySet, value: list[str] | None) -> QuerySet:
        qs = super().filter(qs, value)
        if value:
            descending = str(qs.query.order_by[0]).startswith("-")
            qs = qs.order_by(*qs.query.order_by, "-cloud_id" if descending else "cloud_id")
        return qs


# Sortable columns of the peer link table: query parameter value → model field.
PEER_LINK_SORTS = {
    "name": "name",
    "status": "status",
    "gateway": "gateway__name",
    "account": "gateway__project__account__name",
    "region": "gateway__project__region",
    "peer_type": "peer_type",
    "peer_region": "peer_region",
    "owner": "owner_team",
    "ticket": "ticket_ref",
    "created": "cloud_created_at",
    "updated": "cloud_updated_at",
}


class PeerLinkFilter(ExplainedFilterSet):
    """Peer links across every gateway, region and project."""

    q = django_filters.CharFilter(
        method="filter_text",
        max_length=100,
        label=_("Search"),
        widget=PlainTextInput(
            attrs={"placeholder": _("Name, ID, description, peer ID, owner, ticket, label"), "type": "search"}
        ),
    )
    owner = django_filters.CharFilter(
        field_name="owner_team",
        lookup_expr="iexact",
        max_length=100,
        label=_("Owner team"),
        widget=PlainTextInput,
    )
    ticket = django_filters.CharFilter(
        field_name="ticket_ref",
        lookup_expr="iexact",
        max_length=100,
        label=_("Ticket"),
        widget=PlainTextInput,
    )
    label = django_filters.CharFilter(
        method="filter_label", max_length=40, label=_("Label"), widget=PlainTextInput
    )
    account = AccountChoiceFilter(field_name="gateway__project__account")
    gateway = GatewayChoiceFilter(empty_label=_("All gateways"), label=_("Gateway"))
    status = django_filters.ChoiceFilter(
        choices=PeerLink.Status.choices, empty_label=_("Any status"), label=_("Status"), widget=PlainSelect
    )
    peer_type = django_filters.ChoiceFilter(
        choices=PeerLink.PeerType.choices, empty_label=_("Any peer"), label=_("Peer type"), widget=PlainSelect
    )
    region = django_filters.ChoiceFilter(
        field_name="gateway__project__region",
        choices=region_choices,
        empty_label=_("All regions"),
        label=_("Region"),
        widget=PlainSelect,
    )
    show_gone = django_filters.BooleanFilter(
        method="filter_gone", widget=PlainCheckboxInput, label=_("Show gone")
    )
    sort = StableOrderingFilter(
        fields={field: key for key, field in PEER_LINK_SORTS.items()},
        widget=PlainHiddenInput,
        label=_("Order"),
    )

    class Meta:
        model = PeerLink
        fields: list[str] = []

    def __init__(self, *args: object, counted: bool = False, **kwargs: object) -> None:
        """`counted`: the caller counts the links found, then reads a page of them (the search is then
        looked up once for both, PeerLinkQuerySet.matching)."""
        super().__init__(*args, **kwargs)
        self.counted = counted

    @property
    def is_filtering(self) -> bool:
        """Whether the request sets any filter (the order aside): its form then shows unfolded on a phone."""
        return any(self.data.get(name, "").strip() for name in self.filters if name != "sort")

    def filter_text(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.matching(value, read_twice=self.counted)

    def filter_label(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        return queryset.labelled(value) if value else queryset

    def filter_gone(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        return queryset if value else queryset.filter(gone_at__isnull=True)

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        # Gone links stay hidden unless asked for, even when the rest of the form is invalid.
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("show_gone"):
            queryset = queryset.filter(gone_at__isnull=True)
        return queryset


def audit_action_choices() -> list[tuple[str, str]]:
    actions = AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct()
    return [(action, action) for action in actions]


def object_type_label(object_type: str) -> str:
    """What an audit event's object type is called in the reader's language: the name of its model
    ("peer_link" → peer link), or the type itself for an object that has no model here."""
    model_name = object_type.replace("_", "")
    for app_label in ("peerlinks", "auth"):
        try:
            return str(apps.get_model(app_label, model_name)._meta.verbose_name)
        except LookupError:
            continue
    return object_type.replace("_", " ")


def audit_object_type_choices() -> list[tuple[str, str]]:
    types = AuditEvent.objects.order_by("object_type").values_list("object_type", flat=True).distinct()
    return [(object_type, object_type_label(object_type)) for object_type in types]


class AuditEventFilter(ExplainedFilterSet):
    """The audit log by account, action, actor, object, cloud request id and date range."""

    account = AccountChoiceFilter(field_name="account")
    action = django_filters.ChoiceFilter(
        choices=audit_action_choices, empty_label=_("Any action"), label=_("Action")
    )
    actor = django_filters.CharFilter(
        field_name="actor_name", lookup_expr="iexact", max_length=150, label=_("Actor")
    )
    object_type = django_filters.ChoiceFilter(
        choices=audit_object_type_choices, empty_label=_("Any object"), label=_("Object type")
    )
    object_id = django_filters.CharFilter(max_length=64, label=_("Object ID"))
    request_id = django_filters.CharFilter(
        field_name="cloud_request_id", max_length=64, label=_("Request ID")
    )
    at = django_filters.DateFromToRangeFilter(
        label=_("Date range"),
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )

    class Meta:
        model = AuditEvent
        fields: list[str] = []

"""Every form of the site: asking for changes to peer links, deciding and discussing them, filtering change
requests, a link's local fields, the lead view's period, marking notices read.

The rules a new link must follow live in `peerlinks.services.changes` (so the worker can check them
again); the forms offer the choices, check the wire constraints and put rule breaks on the right field.
"""

from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import RegexValidator
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from peerlinks.models import ApiToken, ChangeRequest, Gateway, PeerLink
from peerlinks.presentation.times import zone_from_name
from peerlinks.services import changes
from peerlinks.services.approvals import COMMENT_MAX, rejection_comment, run_reason
from peerlinks.services.lead import DEFAULT_PERIOD, PERIODS
from peerlinks.services.lifecycle import ChangeRefused

NAME_HELP = _("1 to 64 letters, digits, Chinese characters, '_', '-' or '.'.")
name_validator = RegexValidator(
    changes.NAME_RE, _("Use 1 to 64 letters, digits, Chinese characters, '_', '-' or '.'.")
)


def _format(text: str, **values: Any) -> str:
    return str(text).format(**values)


# A translated text with numbers filled in, translated when shown (fields are made once, at import).
_lazy_format = lazy(_format, str)


def name_field(**kwargs: Any) -> forms.CharField:
    kwargs.setdefault("label", _("Name"))
    return forms.CharField(max_length=64, validators=[name_validator], help_text=NAME_HELP, **kwargs)


def description_field() -> forms.CharField:
    return forms.CharField(
        max_length=changes.DESCRIPTION_MAX,
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": changes.DESCRIPTION_MAX}),
        label=_("Description"),
        help_text=_lazy_format(_("At most {count} characters."), count=changes.DESCRIPTION_MAX),
    )


class ChoiceSelect(forms.Select):
    """A select whose options can be shown but not chosen (`disabled`), the reason in the label."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.disabled_values: set[str] = set()

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        if str(value) in self.disabled_values:
            option["attrs"]["disabled"] = True
        return option


def _label(choice: changes.Choice) -> str:
    state = choice.state or _("unknown")
    text = f"{choice.name} ({state})"
    if choice.detail:
        text += f" · {choice.detail}"
    if choice.problem:
        text += " — " + _("unavailable: {problem}").format(problem=choice.problem)
    return text


def _set_choices(field: forms.ChoiceField, options: list[changes.Choice], *, grouped: bool = False) -> None:
    if grouped:
        groups: dict[str, list[tuple[str, str]]] = {}
        for choice in options:
            groups.setdefault(choice.region, []).append((choice.id, _label(choice)))
        field.choices = [("", _("Choose…")), *groups.items()]
    else:
        field.choices = [("", _("Choose…")), *((choice.id, _label(choice)) for choice in options)]
    field.widget.disabled_values = {choice.id for choice in options if choice.problem}


# Why the peer list is empty, by the chosen peer type.
NO_PEERS = {
    PeerLink.PeerType.ER: _(
        "No enterprise routers known in {region}; choose another type or region, or refresh the data."
    ),
    PeerLink.PeerType.GDGW: _(
        "No global DC gateways known in {region}; choose another type or region, or refresh the data."
    ),
    "": _("No peers known in {region}; choose another type or region, or refresh the data."),
}


class PeerLinkCreateForm(forms.Form):
    """A new peer link: gateway → peer type → peer region → peer → name and description."""

    gateway = forms.ChoiceField(
        widget=ChoiceSelect,
        label=_("Gateway"),
        help_text=_("Gateways that are not ACTIVE or have no quota left cannot be chosen."),
    )
    peer_type = forms.ChoiceField(
        choices=PeerLink.PeerType.choices, initial=PeerLink.PeerType.ER, label=_("Peer type")
    )
    peer_region = forms.ChoiceField(label=_("Peer region"))
    peer = forms.ChoiceField(
        widget=ChoiceSelect,
        label=_("Peer"),
        help_text=_("Unavailable peers are listed but cannot be chosen."),
    )
    name = name_field()
    description = description_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        regions = list(settings.CLOUD_REGIONS)
        self.fields["peer_region"].choices = [(region, region) for region in regions]
        self.fields["peer_region"].initial = regions[0] if regions else ""
        gateways = changes.gateway_choices()
        _set_choices(self.fields["gateway"], gateways, grouped=True)
        gateway = Gateway.objects.present().filter(cloud_id=self._value("gateway")).first()
        peer_type, region = self._value("peer_type"), self._value("peer_region")
        self.peers = changes.peer_choices(peer_type=peer_type, region=region, gateway=gateway)
        _set_choices(self.fields["peer"], self.peers)
        self.peers_for = (dict(PeerLink.PeerType.choices).get(peer_type), region)
        self.no_peers_hint = NO_PEERS.get(peer_type, NO_PEERS[""]).format(region=region or _("this region"))

    def _value(self, name: str) -> str:
        """What the person chose so far (submitted, or given as initial data), as text."""
        value = self.data.get(name) if self.is_bound else self.initial.get(name)
        if value is None:
            value = self.fields[name].initial
        # Raw input feeds the queries that build the choices: PostgreSQL refuses NUL in text.
        return value if isinstance(value, str) and "\x00" not in value else ""

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not all(data.get(key) for key in ("gateway", "peer_type", "peer_region", "peer")):
            return data
        problems = changes.check_create(
            gateway_id=data["gateway"],
            peer_type=data["peer_type"],
            peer_region=data["peer_region"],
            peer_id=data["peer"],
        )
        for field, message in problems.items():
            self.add_error(field, message)
        return data

    def payload(self) -> dict[str, str]:
        """The change request's payload: exactly what will be sent to the cloud."""
        data = self.cleaned_data
        peer = next(choice for choice in self.peers if choice.id == data["peer"])
        return {
            "name": data["name"],
            "description": data["description"],
            "peer_type": data["peer_type"],
            "peer_gateway_id": peer.id,
            "peer_region": data["peer_region"],
            "peer_project_id": peer.project_id,
        }


class PeerLinkEditForm(forms.Form):
    """Rename a link or change its description: the only in-place changes the API allows."""

    name = name_field()
    description = description_field()

    def __init__(self, *args: Any, link: PeerLink, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"name": link.name, "description": link.description})
        super().__init__(*args, **kwargs)
        self.link = link

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        if data["name"] == self.link.name and data["description"] == self.link.description:
            raise forms.ValidationError(_("Nothing to change: the name and description are as they are now."))
        return data


class PeerLinkDeleteForm(forms.Form):
    """Typing the link's exact name confirms which link goes."""

    confirm_name = forms.CharField(max_length=64, label=_("Type the link's name to confirm"), strip=False)

    def __init__(self, *args: Any, link: PeerLink, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.link = link

    def clean_confirm_name(self) -> str:
        value = self.cleaned_data["confirm_name"]
        if value != self.link.name:
            raise forms.ValidationError(
                _("That is not the name of this link; type {name} exactly.").format(name=self.link.name)
            )
        return value


class ChangeEditForm(forms.Form):
    """The name and description of a pending create or rename."""

    name = name_field()
    description = description_field()


class DecisionForm(forms.Form):
    """An approver's comment (optional to approve; to reject, the comment the rejection rule asks for) and
    the version of the change they decide on: the digest of the payload their page showed."""

    comment = forms.CharField(
        required=False, max_length=COMMENT_MAX, label=_("Comment"), widget=forms.Textarea(attrs={"rows": 2})
    )
    # Not required: a form without it (an old page) decides on no version, and the service refuses it.
    payload_digest = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, rejecting: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rejecting = rejecting

    @classmethod
    def for_change(cls, change: ChangeRequest, *, comment: str = "") -> "DecisionForm":
        """An unbound form deciding on the change as it is now."""
        return cls(initial={"payload_digest": change.payload_digest, "comment": comment})

    def clean_comment(self) -> str:
        comment = self.cleaned_data["comment"]
        if self.rejecting:
            try:
                return rejection_comment(comment)
            except ChangeRefused as exc:
                raise forms.ValidationError(str(exc)) from exc
        return comment


class RunNowForm(forms.Form):
    """Why an approved change must run before its change window: required, for the audit trail."""

    reason = forms.CharField(required=False, max_length=COMMENT_MAX, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_reason(self) -> str:
        try:
            return run_reason(self.cleaned_data["reason"])
        except ChangeRefused as exc:
            raise forms.ValidationError(str(exc)) from exc


class CommentForm(forms.Form):
    """A message in a change request's discussion."""

    body = forms.CharField(
        max_length=COMMENT_MAX, label=_("Comment"), widget=forms.Textarea(attrs={"rows": 3})
    )


class ChangeFilterForm(forms.Form):
    """Filters of the change request list."""

    state = forms.ChoiceField(
        choices=[("", _("Any state")), *ChangeRequest.State.choices], required=False, label=_("State")
    )
    kind = forms.ChoiceField(
        choices=[("", _("Any kind")), *ChangeRequest.Kind.choices], required=False, label=_("Kind")
    )
    mine = forms.BooleanField(required=False, label=_("Only mine"))

    def filter(self, queryset: Any, *, user: Any) -> Any:
        data = self.cleaned_data if self.is_valid() else {}
        if data.get("state"):
            queryset = queryset.filter(state=data["state"])
        if data.get("kind"):
            queryset = queryset.filter(kind=data["kind"])
        if data.get("mine"):
            queryset = queryset.filter(requested_by=user)
        return queryset


MAX_LABELS = 20
MAX_LABEL_LENGTH = 40


class LocalFieldsForm(forms.Form):
    """Owner team, ticket reference and labels; labels are typed comma-separated and cleaned to a list."""

    owner_team = forms.CharField(
        required=False, max_length=PeerLink._meta.get_field("owner_team").max_length, label=_("Owner team")
    )
    ticket_ref = forms.CharField(
        required=False,
        max_length=PeerLink._meta.get_field("ticket_ref").max_length,
        label=_("Ticket reference"),
    )
    labels = forms.CharField(
        required=False,
        max_length=MAX_LABELS * (MAX_LABEL_LENGTH + 2),
        label=_("Labels"),
        help_text=_lazy_format(
            _("Comma-separated; at most {count} labels of {length} characters each."),
            count=MAX_LABELS,
            length=MAX_LABEL_LENGTH,
        ),
        widget=forms.TextInput(attrs={"placeholder": "prod, finance, dc-a"}),
    )

    @classmethod
    def for_link(cls, link: PeerLink) -> "LocalFieldsForm":
        """An unbound form showing the link's current local fields."""
        return cls(
            initial={
                "owner_team": link.owner_team,
                "ticket_ref": link.ticket_ref,
                "labels": ", ".join(link.labels or []),
            }
        )

    def clean_labels(self) -> list[str]:
        raw = self.cleaned_data.get("labels") or ""
        labels = list(dict.fromkeys(label.strip() for label in raw.split(",") if label.strip()))
        if len(labels) > MAX_LABELS:
            raise forms.ValidationError(
                _("At most {most} labels, got {count}.").format(most=MAX_LABELS, count=len(labels))
            )
        too_long = [label for label in labels if len(label) > MAX_LABEL_LENGTH]
        if too_long:
            raise forms.ValidationError(
                _("A label is at most {length} characters; “{label}…” is longer.").format(
                    length=MAX_LABEL_LENGTH, label=too_long[0][:MAX_LABEL_LENGTH]
                )
            )
        return labels


class DriftAdoptForm(LocalFieldsForm):
    """Adopting a link made outside dcportal: its local fields, with an owner team and a ticket required."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner_team"].required = True
        self.fields["ticket_ref"].required = True


class SearchForm(forms.Form):
    """The search box: one query across every kind of thing dcportal knows."""

    q = forms.CharField(required=False, max_length=100, label=_("Search"))


class LeadPeriodForm(forms.Form):
    """The period the lead view's provisioning times and failed requests cover."""

    days = forms.TypedChoiceField(
        choices=[(days, _lazy_format(_("Last {days} days"), days=days)) for days in PERIODS],
        label=_("Period"),
        coerce=int,
        required=False,
        empty_value=DEFAULT_PERIOD,
    )


class NoticeReadForm(forms.Form):
    """Which notice to mark read; none means all of them."""

    id = forms.IntegerField(required=False, min_value=1)


class TimeZoneForm(forms.Form):
    """The zone times are shown in: an IANA name, or empty to follow the browser."""

    timezone = forms.CharField(required=False, max_length=64)

    def clean_timezone(self) -> str:
        name = self.cleaned_data["timezone"]
        if name and zone_from_name(name) is None:
            raise forms.ValidationError(_("Unknown time zone."))
        return name


class ApiTokenForm(forms.Form):
    """A new personal API token: what it is for, what it may do, and how long it lasts."""

    DAYS = [(7, _("7 days")), (30, _("30 days")), (90, _("90 days")), (365, _("1 year"))]

    name = forms.CharField(
        max_length=100, label=_("Name"), help_text=_("What the token is for, e.g. the pipeline that uses it.")
    )
    scope = forms.ChoiceField(
        choices=ApiToken.Scope.choices,
        initial=ApiToken.Scope.READ,
        label=_("Scope"),
        help_text=_(
            "A read-only token is refused on every change. Neither ever does more than your role allows."
        ),
    )
    days = forms.TypedChoiceField(choices=DAYS, coerce=int, initial=90, label=_("Expires after"))

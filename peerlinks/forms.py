"""Every form of the site: asking for changes to peer links, deciding and discussing them, filtering change
requests, a link's local fields, the lead view's period, marking notices read; cloud accounts (admin).

The rules a new link must follow live in `peerlinks.services.changes` (so the worker can check them
again); the forms offer the choices, check the wire constraints and put rule breaks on the right field.
"""

import functools
from collections.abc import Iterator
from typing import Any

from django import forms
from django.core.validators import RegexValidator
from django.forms.models import ModelChoiceIterator
from django.utils.functional import lazy
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from peerlinks.cloud.endpoints import check_region_name, parse_overrides
from peerlinks.models import (
    ApiToken,
    ChangeRequest,
    CloudAccount,
    Gateway,
    PeerLink,
    WebhookSubscription,
    accounts_in_order,
)
from peerlinks.permissions import SUBMIT, accounts_with_perm, readable_accounts
from peerlinks.presentation.times import zone_from_name
from peerlinks.services import bulk, changes
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
_lazy_capfirst = lazy(capfirst, str)


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


def _label(choice: changes.Choice, *, with_account: bool = False) -> str:
    state = choice.state or _("unknown")
    text = f"{choice.name} ({state})"
    if with_account:
        text += " · " + _("account {name}").format(name=choice.account)
    if choice.detail:
        text += f" · {choice.detail}"
    if choice.problem:
        text += " — " + _("unavailable: {problem}").format(problem=choice.problem)
    return text


def _set_choices(
    field: forms.ChoiceField,
    options: list[changes.Choice],
    *,
    grouped: bool = False,
    with_account: bool = False,
) -> None:
    """The field's choices (grouped by region), each labelled with its account `with_account`."""
    labelled = [(choice, _label(choice, with_account=with_account)) for choice in options]
    if grouped:
        groups: dict[str, list[tuple[str, str]]] = {}
        for choice, label in labelled:
            groups.setdefault(choice.region, []).append((choice.id, label))
        field.choices = [("", _("Choose…")), *groups.items()]
    else:
        field.choices = [("", _("Choose…")), *((choice.id, label) for choice, label in labelled)]
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
    """A new peer link: gateway → peer type → peer region → peer → name and description.

    With a `user`, the gateways and peers offered are those of the accounts they may read; with several
    accounts, each is labelled with its account."""

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

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        """`user`: offer only gateways in the accounts where they are an engineer (peers may be anywhere)."""
        super().__init__(*args, **kwargs)
        regions = CloudAccount.objects.managed_regions()
        self.fields["peer_region"].choices = [(region, region) for region in regions]
        self.fields["peer_region"].initial = regions[0] if regions else ""
        with_account = CloudAccount.objects.several()
        accounts = None if user is None else accounts_with_perm(user, SUBMIT)
        gateways = changes.gateway_choices(user=user, accounts=accounts)
        _set_choices(self.fields["gateway"], gateways, grouped=True, with_account=with_account)
        gateway = Gateway.objects.present().filter(cloud_id=self._value("gateway")).first()
        peer_type, region = self._value("peer_type"), self._value("peer_region")
        self.peers = changes.peer_choices(peer_type=peer_type, region=region, gateway=gateway, user=user)
        _set_choices(self.fields["peer"], self.peers, with_account=with_account)
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


class BulkUploadForm(forms.Form):
    """Links to create, as a CSV or YAML file or pasted text (services.bulk reads and checks them).

    After the preview the text comes back in the textarea, so asking for the batch sends exactly the rows
    the preview showed, checked again."""

    file = forms.FileField(required=False, label=_("File (CSV or YAML)"))
    text = forms.CharField(
        required=False,
        label=_("Or paste the rows"),
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "mono"}),
    )
    format = forms.ChoiceField(
        required=False,
        label=_("Format"),
        choices=[("", _("Recognise it")), ("csv", "CSV"), ("yaml", "YAML")],
    )
    leave_out_refused = forms.BooleanField(required=False, label=_("Leave out the refused rows"))

    def clean(self) -> dict:
        data = super().clean()
        upload = data.get("file")
        try:
            if upload is not None:
                text = bulk.decode(upload.read(bulk.MAX_BYTES + 1))
                fmt = data.get("format") or bulk.guess_format(text, upload.name)
            else:
                text = data.get("text") or ""
                fmt = data.get("format") or bulk.guess_format(text)
            if not text.strip():
                raise forms.ValidationError(_("Choose a file or paste the rows."))
            data["records"] = bulk.parse(text, format=fmt)
        except ChangeRefused as exc:
            raise forms.ValidationError(str(exc)) from exc
        data["text"], data["format"] = text, fmt
        return data


class BulkDeleteForm(forms.Form):
    """Links chosen in the list to delete; asking for the batch needs their number typed, as deleting one
    link needs its name typed."""

    link = forms.MultipleChoiceField(required=False, label=_("Links"))
    confirm_count = forms.IntegerField(required=False, label=_("Number of links to delete"))
    leave_out_refused = forms.BooleanField(required=False, label=_("Leave out the refused links"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Any ID: the service says which are not links the person may delete.
        self.fields["link"].valid_value = lambda value: isinstance(value, str) and len(value) <= 36

    def check_count(self, count: int) -> bool:
        """Whether the number typed is the number of links that would be asked to delete (else an error)."""
        if self.cleaned_data.get("confirm_count") == count:
            return True
        self.add_error(
            "confirm_count", _("Type {count}, the number of links to delete, to confirm.").format(count=count)
        )
        return False


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


class KnownAccounts(ModelChoiceIterator):
    """The accounts a filter offers, taken from those the page reads once (models.accounts_in_order, the
    banner's) instead of by a query of their own: those `user` may read, in the same order."""

    def __init__(self, field: forms.ModelChoiceField, *, user: object) -> None:
        super().__init__(field)
        self.user = user

    def __iter__(self) -> Iterator[tuple[object, str]]:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        readable = None if self.user is None else readable_accounts(self.user)
        for account in accounts_in_order():
            if readable is None or account.pk in readable:
                yield self.choice(account)

    def __len__(self) -> int:
        return sum(1 for _choice in self)

    def __bool__(self) -> bool:
        return len(self) > 0


def offer_known_accounts(field: forms.ModelChoiceField, *, user: Any) -> None:
    """Let an account field offer the accounts `user` may read from those the page already read."""
    field.iterator = functools.partial(KnownAccounts, user=user)
    field.widget.choices = field.choices


class ChangeFilterForm(forms.Form):
    """Filters of the change request list; the accounts offered are those `user` may read."""

    account = forms.ModelChoiceField(
        queryset=CloudAccount.objects.none(),
        to_field_name="name",
        required=False,
        empty_label=_("All accounts"),
        label=_("Account"),
    )

    state = forms.ChoiceField(
        choices=[("", _("Any state")), *ChangeRequest.State.choices], required=False, label=_("State")
    )
    kind = forms.ChoiceField(
        choices=[("", _("Any kind")), *ChangeRequest.Kind.choices], required=False, label=_("Kind")
    )
    mine = forms.BooleanField(required=False, label=_("Only mine"))

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = CloudAccount.objects.visible_to(user)
        offer_known_accounts(self.fields["account"], user=user)

    def filter(self, queryset: Any, *, user: Any) -> Any:
        data = self.cleaned_data if self.is_valid() else {}
        if data.get("account"):
            queryset = queryset.in_account(data["account"])
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
    """The period the lead view's provisioning times and failed requests cover, and the account it shows
    (among those `user` may read; all of them when none is chosen)."""

    days = forms.TypedChoiceField(
        choices=[(days, _lazy_format(_("Last {days} days"), days=days)) for days in PERIODS],
        label=_("Period"),
        coerce=int,
        required=False,
        empty_value=DEFAULT_PERIOD,
    )
    account = forms.ModelChoiceField(
        queryset=CloudAccount.objects.none(),
        to_field_name="name",
        required=False,
        empty_label=_("All accounts"),
        label=_("Account"),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = CloudAccount.objects.visible_to(user)
        offer_known_accounts(self.fields["account"], user=user)


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


# --- Cloud accounts (the Django admin, admins only) -------------------------------------------------


def _credential_field(label: Any) -> forms.CharField:
    """A credential: typed in, never drawn back (the stored value stays in its encrypted column)."""
    return forms.CharField(
        required=False,
        strip=True,
        label=label,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )


def _verbose_name(field: str) -> Any:
    """A field's label as a model form would make it (capitalised, translated when shown)."""
    return _lazy_capfirst(CloudAccount._meta.get_field(field).verbose_name)


def _endpoints_text(endpoints: dict[str, str]) -> str:
    return "\n".join(f"{key}={url}" for key, url in (endpoints or {}).items())


class CloudAccountForm(forms.ModelForm):
    """Adding or editing an account: credentials are write-only (left empty, a stored one is kept; "Clear"
    removes it), endpoint overrides are written as CLOUD_ENDPOINTS takes them, one per line. What each
    authentication needs is the model's rule (CloudAccount.clean)."""

    access_key = _credential_field(_verbose_name("access_key"))
    secret_key = _credential_field(_verbose_name("secret_key"))
    iam_password = _credential_field(_verbose_name("iam_password"))
    clear_access_key = forms.BooleanField(required=False, label=_("Clear the stored access key ID"))
    clear_secret_key = forms.BooleanField(required=False, label=_("Clear the stored secret access key"))
    clear_iam_password = forms.BooleanField(required=False, label=_("Clear the stored IAM user password"))
    endpoints = forms.CharField(
        required=False,
        label=_verbose_name("endpoints"),
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    class Meta:
        model = CloudAccount
        fields = [
            "name",
            "description",
            "auth",
            "access_key",
            "secret_key",
            "iam_domain",
            "iam_user",
            "iam_password",
            "endpoints",
        ]

    CREDENTIALS = ("access_key", "secret_key", "iam_password")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["endpoints"] = _endpoints_text(self.instance.endpoints)
        # The admin draws help as HTML; examples are code, read as written in any language.
        self.fields["name"].help_text = format_html(
            "{} <code>dcportal-approver-{}</code>",
            _("Short name, used in filters, exports and the identity provider's groups, e.g."),
            self.instance.name or "team-b",
        )
        self.fields["endpoints"].help_text = format_html(
            "{} <code>iam=https://iam.example.net</code>, <code>dcaas@eu-west-101=https://…</code>",
            _(
                "Only for a special cloud: one override per line, as the CLOUD_ENDPOINTS setting takes them "
                "(empty: CLOUD_ENDPOINT), e.g."
            ),
        )
        for name in self.CREDENTIALS:
            if getattr(self.instance, name):
                field = self.fields[name]
                field.widget.attrs["placeholder"] = "••••••••"
                field.help_text = _("•••• set: leave empty to keep it, or type a new one to replace it.")

    def clean_endpoints(self) -> dict[str, str]:
        text = self.cleaned_data["endpoints"]
        try:
            return parse_overrides(",".join(text.splitlines()))
        except ValueError as exc:
            raise forms.ValidationError(
                format_html("{} <code>{}</code>", _("Not a valid endpoint override:"), exc)
            ) from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in self.CREDENTIALS:
            if cleaned.get(f"clear_{name}"):
                if cleaned.get(name):
                    self.add_error(name, _("Type a new value or clear the stored one, not both."))
                else:
                    # Before the model's own checks (_post_clean), which then see it gone.
                    setattr(self.instance, name, "")
        return cleaned


class CloudAccountDescriptionForm(forms.ModelForm):
    """The first account: only its description is edited here, the rest comes from the CLOUD_* settings."""

    class Meta:
        model = CloudAccount
        fields = ["description"]


class RegionField(forms.MultipleChoiceField):
    """Regions ticked among those shown: any well-formed region ID is accepted back."""

    widget = forms.CheckboxSelectMultiple

    def valid_value(self, value: str) -> bool:
        try:
            check_region_name(value)
        except ValueError:
            return False
        return True


class AccountRegionsForm(forms.Form):
    """The regions an account manages, ticked among those its IAM projects name (`found`) and those it
    manages already; the first account's are the CLOUD_REGIONS setting, shown but not changed here."""

    regions = RegionField(required=False, label=_("Regions to manage"))

    def __init__(self, *args: Any, account: CloudAccount, found: list[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, initial={"regions": account.managed_regions}, **kwargs)
        field = self.fields["regions"]
        ticked = [region for region in self.data.getlist("regions") if field.valid_value(region)]
        field.choices = [(region, region) for region in sorted({*found, *account.managed_regions, *ticked})]
        field.disabled = account.from_environment


class IamRegionForm(forms.Form):
    """Which region's IAM endpoint to ask for an account's projects (empty: the usual one)."""

    region = forms.CharField(required=False, max_length=36, label=_("Ask IAM in region"))

    def clean_region(self) -> str:
        region = self.cleaned_data["region"]
        if region:
            try:
                check_region_name(region)
            except ValueError:
                raise forms.ValidationError(_("Not a region ID such as cn-north-4.")) from None
        return region


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


class WebhookSubscriptionForm(forms.ModelForm):
    """A webhook as an admin sets it up: the events ticked from the list; the secret write-only (left
    empty, the stored one is kept; "Clear" removes it)."""

    events = forms.MultipleChoiceField(
        choices=WebhookSubscription.Event.choices,
        widget=forms.CheckboxSelectMultiple,
        label=_lazy_capfirst(WebhookSubscription._meta.get_field("events").verbose_name),
    )
    url = forms.URLField(
        max_length=1000,
        assume_scheme="https",
        label=_lazy_capfirst(WebhookSubscription._meta.get_field("url").verbose_name),
    )
    clear_secret = forms.BooleanField(required=False, label=_("Clear the stored secret"))

    class Meta:
        model = WebhookSubscription
        fields = ["name", "url", "format", "secret", "events", "account", "gateway", "active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.secret:
            self.fields["secret"].widget.attrs["placeholder"] = "••••••••"
            self.fields["secret"].help_text = _(
                "•••• set: leave empty to keep it, or type a new one to replace it."
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("clear_secret"):
            if cleaned.get("secret"):
                self.add_error("secret", _("Type a new value or clear the stored one, not both."))
            else:
                self.instance.secret = (
                    ""  # before the model's own checks (_post_clean), which then see it gone
                )
        return cleaned

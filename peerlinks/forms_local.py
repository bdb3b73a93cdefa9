"""The form for a peer link's local fields: facts the cloud has no place for (peer links carry no tags)."""

from django import forms

from peerlinks.models import PeerLink

MAX_LABELS = 20
MAX_LABEL_LENGTH = 40


class LocalFieldsForm(forms.Form):
    """Owner team, ticket reference and labels; labels are typed comma-separated and cleaned to a list."""

    owner_team = forms.CharField(
        required=False, max_length=PeerLink._meta.get_field("owner_team").max_length, label="Owner team"
    )
    ticket_ref = forms.CharField(
        required=False,
        max_length=PeerLink._meta.get_field("ticket_ref").max_length,
        label="Ticket reference",
    )
    labels = forms.CharField(
        required=False,
        max_length=MAX_LABELS * (MAX_LABEL_LENGTH + 2),
        help_text=f"Comma-separated; at most {MAX_LABELS} labels of {MAX_LABEL_LENGTH} characters each.",
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
            raise forms.ValidationError(f"At most {MAX_LABELS} labels, got {len(labels)}.")
        too_long = [label for label in labels if len(label) > MAX_LABEL_LENGTH]
        if too_long:
            raise forms.ValidationError(
                f"A label is at most {MAX_LABEL_LENGTH} characters; "
                f"“{too_long[0][:MAX_LABEL_LENGTH]}…” is longer."
            )
        return labels

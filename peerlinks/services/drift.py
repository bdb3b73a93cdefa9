"""Acting on drift beyond acknowledging it: adopting a link made outside dcportal (giving it an owner and a
ticket) and reverting an outside change through a change request that undoes it, under the normal approval.

Which drift can be adopted or reverted, and how, is decided here once (`can_adopt`, `revert_plan`); the
dashboard asks the same functions which buttons to show.
"""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from peerlinks.models import ChangeRequest, Drift
from peerlinks.services import changes, dashboard, links
from peerlinks.services.lifecycle import ChangeRefused

NOT_ADOPTABLE = _(
    "Only a link created outside dcportal that still exists, its drift still open, can be adopted."
)
NO_UNDO = _("Nothing to undo here: the drift was dealt with, or the link has changed since.")


@dataclass(frozen=True)
class RevertPlan:
    """The change request that would undo a drift: its kind, payload and what it does, in words."""

    kind: str
    payload: dict
    summary: str  # in the language of the request that asked for the plan


def can_adopt(drift: Drift) -> bool:
    """A link created outside dcportal, still there and not yet dealt with, may be adopted."""
    return _open(drift) and drift.kind == Drift.Kind.CREATED


def revert_plan(drift: Drift) -> RevertPlan | None:
    """The undo of a drift, or None when there is none to offer.

    Created outside (or a duplicate) → delete that link; renamed or redescribed outside → set the fields
    back, as long as the link still shows what the drift saw. A link deleted outside is not re-created:
    its peer and quota may have moved on, so a new link is asked for on purpose instead.
    """
    if not _open(drift) or drift.peer_link.is_read_only:
        return None
    link = drift.peer_link
    if drift.kind in (Drift.Kind.CREATED, Drift.Kind.DUPLICATE):
        return RevertPlan(
            kind=ChangeRequest.Kind.DELETE,
            payload={},
            summary=gettext("Ask to delete {name}").format(name=link.name),
        )
    if drift.kind == Drift.Kind.CHANGED:
        fields = {field: values for field, values in drift.detail.items() if field in changes.UPDATE_FIELDS}
        if not fields or any(getattr(link, field) != values.get("after") for field, values in fields.items()):
            return None  # changed again since: this drift no longer describes the link
        payload = {field: values.get("before") or "" for field, values in fields.items()}
        if "name" in payload:
            summary = gettext("Ask to rename {name} back to {old_name}").format(
                name=link.name, old_name=payload["name"]
            )
        else:
            summary = gettext("Ask to set the description of {name} back").format(name=link.name)
        return RevertPlan(kind=ChangeRequest.Kind.UPDATE, payload=payload, summary=summary)
    return None


def _open(drift: Drift) -> bool:
    return drift.acknowledged_at is None and drift.peer_link.gone_at is None


def adopt_drift(
    *, drift_id: int, user: AbstractBaseUser, owner_team: str, ticket_ref: str, labels: list[str]
) -> Drift:
    """Give a link created outside dcportal its owner and ticket (audited as on the link page) and mark
    the drift dealt with.

    The link is locked before the drift, after the cache's lock order (peerlinks.services.mirror).
    """
    with transaction.atomic():
        drift = _drift_to_act_on(drift_id)
        if not can_adopt(drift):
            raise ChangeRefused(NOT_ADOPTABLE)
        links.update_local_fields(
            link_id=drift.peer_link_id, user=user, owner_team=owner_team, ticket_ref=ticket_ref, labels=labels
        )
        if not can_adopt(_drift_to_act_on(drift_id, lock=True)):
            raise ChangeRefused(NOT_ADOPTABLE)  # dealt with meanwhile: the local fields are rolled back
        return dashboard.acknowledge_drift(
            drift_id=drift_id, user=user, action="drift.adopted", note={"owner_team": owner_team}
        )


def revert_drift(*, drift_id: int, user: AbstractBaseUser) -> ChangeRequest:
    """Ask, through the normal approval, for the change that undoes a drift; the drift is then dealt with.

    Raises ChangeRefused when there is nothing to undo or the link cannot be changed now. The gateway and
    link (locked by `submit_change`) are locked before the drift, after the cache's lock order.
    """
    with transaction.atomic():
        drift = _drift_to_act_on(drift_id)
        plan = revert_plan(drift)
        if plan is None:
            raise ChangeRefused(NO_UNDO)
        change = changes.submit_change(
            user=user,
            kind=plan.kind,
            gateway=drift.peer_link.gateway,
            payload=plan.payload,
            peer_link=drift.peer_link,
            reverts_drift=drift,
        )
        if revert_plan(_drift_to_act_on(drift_id, lock=True)) != plan:
            raise ChangeRefused(NO_UNDO)  # dealt with, or the link changed, meanwhile: nothing is kept
        dashboard.acknowledge_drift(
            drift_id=drift_id, user=user, action="drift.revert_requested", note={"change_request": change.pk}
        )
    return change


def _drift_to_act_on(drift_id: int, *, lock: bool = False) -> Drift:
    queryset = Drift.objects.select_related("peer_link__gateway")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    return queryset.get(pk=drift_id)

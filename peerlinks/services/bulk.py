"""Bulk changes: many links to create from one upload (CSV or YAML), or many links chosen to delete, checked
row by row before anything is asked for, then asked for as one batch decided with one approval.

Each row is an ordinary change request made by `changes.submit_change` (the same rules, quota and roles),
so carrying it out, following it, its page, webhooks and the audit log are those of any change; a batch
only groups them. Deciding a batch decides each of its pending rows through `approvals`, in one
transaction: every row or none. A failed row undoes no other, and the failed rows are asked for again
together as a new batch (`approvals.retry_change`, each needing approval again).
"""

import csv
import hashlib
import io
import json
from collections import Counter
from dataclasses import dataclass, field

import yaml
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from peerlinks.models import Approval, ChangeBatch, ChangeRequest, EnterpriseRouter, Gateway, PeerLink
from peerlinks.services import approvals, changes, dispatch, lifecycle
from peerlinks.services.lifecycle import ChangeForbidden, ChangeOutdated, ChangeRefused

MAX_ROWS = 500
MAX_BYTES = 512 * 1024
# The columns of an upload, in the order a template file lists them; the first three are required.
COLUMNS = ("gateway", "peer", "name", "description", "owner", "ticket")
REQUIRED = ("gateway", "peer", "name")
# Other spellings a column may have (the link list's CSV export names them so).
ALIASES = {
    "gateway_id": "gateway",
    "peer_id": "peer",
    "peer_gateway_id": "peer",
    "owner_team": "owner",
    "ticket_ref": "ticket",
}
FORMATS = ("csv", "yaml")
State = ChangeRequest.State


class UploadRefused(ChangeRefused):
    """An upload that cannot be read at all (encoding, format, columns, size): nothing is checked further."""


# --- Reading an upload ---------------------------------------------------------------------------


def decode(data: bytes) -> str:
    """The text of an uploaded file: UTF-8 (with or without a byte order mark), at most MAX_BYTES."""
    if len(data) > MAX_BYTES:
        raise UploadRefused(_("The file is too large: at most {size} KB.").format(size=MAX_BYTES // 1024))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadRefused(
            _("The file is not UTF-8 text (byte {position} cannot be read): save it as UTF-8.").format(
                position=exc.start + 1
            )
        ) from None


def guess_format(text: str, filename: str = "") -> str:
    """'yaml' for a .yaml/.yml file or text that reads as a YAML list or mapping, else 'csv'."""
    if filename.lower().endswith((".yaml", ".yml")):
        return "yaml"
    if filename.lower().endswith(".csv"):
        return "csv"
    start = text.lstrip()
    return "yaml" if start.startswith(("-", "links:", "[", "{")) else "csv"


def parse(text: str, *, format: str = "") -> list[dict[str, str]]:
    """The rows of an upload as dicts of the known columns (missing ones empty); refuses an upload that
    cannot be read, has unknown or missing columns, or too many rows."""
    if len(text.encode()) > MAX_BYTES:
        raise UploadRefused(_("The file is too large: at most {size} KB.").format(size=MAX_BYTES // 1024))
    if "\x00" in text:
        raise UploadRefused(_("The file contains a null character: is it a spreadsheet rather than text?"))
    format = format or guess_format(text)
    records = _parse_yaml(text) if format == "yaml" else _parse_csv(text)
    if not records:
        raise UploadRefused(_("No rows: the file has no link to create."))
    if len(records) > MAX_ROWS:
        raise UploadRefused(
            _("Too many rows: {count}, at most {limit} in one upload.").format(
                count=len(records), limit=MAX_ROWS
            )
        )
    return records


def _column(name: object) -> str:
    text = str(name).strip().lower().replace(" ", "_")
    return ALIASES.get(text, text)


def _check_columns(names: list[str]) -> None:
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        raise UploadRefused(
            _("Unknown columns: {unknown}. The columns are {columns}.").format(
                unknown=", ".join(unknown), columns=", ".join(COLUMNS)
            )
        )
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise UploadRefused(_("Missing columns: {missing}.").format(missing=", ".join(missing)))
    doubled = [name for name, count in Counter(names).items() if count > 1]
    if doubled:
        raise UploadRefused(_("Columns given twice: {columns}.").format(columns=", ".join(doubled)))


def _parse_csv(text: str) -> list[dict[str, str]]:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    try:
        rows = list(csv.reader(io.StringIO("\n".join(lines))))
    except csv.Error as exc:
        raise UploadRefused(_("The CSV cannot be read: {error}.").format(error=exc)) from None
    header = [_column(name) for name in rows[0]]
    _check_columns(header)
    records = []
    for number, values in enumerate(rows[1:], start=2):
        if len(values) > len(header):
            raise UploadRefused(
                _("Line {line} has more values than the header has columns.").format(line=number)
            )
        record = dict.fromkeys(COLUMNS, "")
        record.update({name: value.strip() for name, value in zip(header, values, strict=False)})
        records.append(record)
    return records


def _parse_yaml(text: str) -> list[dict[str, str]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = _(" (line {line})").format(line=mark.line + 1) if mark is not None else ""
        raise UploadRefused(_("The YAML cannot be read{where}.").format(where=where)) from None
    if isinstance(data, dict) and set(data) == {"links"}:
        data = data["links"]
    if data is None:
        return []
    if not isinstance(data, list):
        raise UploadRefused(_("The YAML must be a list of links (or a mapping with one key, links)."))
    records = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise UploadRefused(
                _("Item {number} is not a mapping of columns to values.").format(number=number)
            )
        names = [_column(name) for name in item]
        _check_columns(names)
        record = dict.fromkeys(COLUMNS, "")
        for name, value in zip(names, item.values(), strict=True):
            if isinstance(value, (dict, list)):
                raise UploadRefused(
                    _("Item {number}: {column} must be a single value.").format(number=number, column=name)
                )
            record[name] = "" if value is None else str(value).strip()
        records.append(record)
    return records


# --- The preview: each row's verdict, and each gateway's quota -----------------------------------


@dataclass
class Row:
    """One row of an upload (or one link chosen to delete) and its verdict: `problem` says why it is
    refused, "" when it would be asked for."""

    number: int
    values: dict[str, str]
    problem: str = ""
    gateway: Gateway | None = None
    peer: Gateway | EnterpriseRouter | None = None
    link: PeerLink | None = None

    @property
    def ok(self) -> bool:
        return not self.problem

    @property
    def peer_type(self) -> str:
        return PeerLink.PeerType.ER if isinstance(self.peer, EnterpriseRouter) else PeerLink.PeerType.GDGW

    def payload(self) -> dict[str, str]:
        """What the change request asks for (changes.submit_change fills in the peer's project)."""
        if self.link is not None:
            return {}
        return {
            "name": self.values["name"],
            "description": self.values["description"],
            "peer_type": self.peer_type,
            "peer_gateway_id": self.peer.cloud_id,
            "peer_region": self.peer.project.region,
            "owner_team": self.values["owner"],
            "ticket_ref": self.values["ticket"],
        }


@dataclass
class GatewayQuota:
    """A gateway's peer-link quota as the cloud last said, with the open creates and this upload's rows."""

    gateway: Gateway
    used: int
    quota: int
    open_creates: int
    this_upload: int = 0
    freed: int = 0  # links this batch deletes

    @property
    def after(self) -> int:
        return max(0, self.used + self.open_creates + self.this_upload - self.freed)

    @property
    def left(self) -> int:
        return self.quota - self.after


@dataclass
class Preview:
    kind: str
    rows: list[Row]
    quotas: list[GatewayQuota] = field(default_factory=list)

    @property
    def accepted(self) -> list[Row]:
        return [row for row in self.rows if row.ok]

    @property
    def refused(self) -> list[Row]:
        return [row for row in self.rows if not row.ok]


class _Names:
    """The gateways and routers `user` may read, by ID and by name: read once for an upload, not per row."""

    def __init__(self, user: AbstractBaseUser) -> None:
        self.gateways = self._index(Gateway.objects.present().visible_to(user))
        self.routers = self._index(EnterpriseRouter.objects.present().visible_to(user))

    @staticmethod
    def _index(queryset: QuerySet) -> tuple[dict[str, object], dict[str, list]]:
        by_id, by_name = {}, {}
        for row in queryset.select_related("project__account"):
            by_id[row.cloud_id.lower()] = row
            by_name.setdefault(row.name, []).append(row)
        return by_id, by_name

    @staticmethod
    def _named(value: str, *indexes: tuple[dict, dict]) -> list:
        """The one row whose cloud ID is `value` (any case), else every row so named."""
        for by_id, _by_name in indexes:
            if value.lower() in by_id:
                return [by_id[value.lower()]]
        return [row for _by_id, by_name in indexes for row in by_name.get(value, [])]

    def gateway(self, value: str) -> tuple[Gateway | None, str]:
        """The gateway an upload names, by its ID or its name, and why not found ("" if found)."""
        found = self._named(value, self.gateways)
        if len(found) == 1:
            return found[0], ""
        if found:
            return None, _("Several gateways are named {name}: give its ID.").format(name=value)
        return None, _("No global DC gateway {value}.").format(value=value)

    def peer(self, value: str) -> tuple[Gateway | EnterpriseRouter | None, str]:
        """The router or gateway an upload names as the peer, by ID or name, and why not found."""
        found = self._named(value, self.routers, self.gateways)
        if len(found) == 1:
            return found[0], ""
        if found:
            return None, _("Several routers or gateways are named {name}: give its ID.").format(name=value)
        return None, _("No enterprise router or global DC gateway {value}.").format(value=value)


def preview_creates(*, user: AbstractBaseUser, records: list[dict[str, str]]) -> Preview:
    """Each row's verdict (what would be asked for, what is refused and why) and each gateway's quota
    outlook: the links it has, the creates open on it, and this upload's rows, in their order."""
    rows = [Row(number=number, values=values) for number, values in enumerate(records, start=1)]
    quotas: dict[int, GatewayQuota] = {}
    open_creates = changes.open_creates_by_gateway()
    names = _Names(user)
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        row.problem = _create_problem(row, user=user, names=names, seen=seen)
        gateway = row.gateway
        if gateway is None:
            continue
        quota = quotas.get(gateway.pk)
        if quota is None:
            quota = quotas[gateway.pk] = _quota(gateway, open_creates=open_creates.get(gateway.pk, 0))
        if row.ok and quota.left <= 0:
            row.problem = _("No peer-link quota left on {gateway} for this row ({quota} links).").format(
                gateway=gateway.name, quota=quota.quota
            )
        if row.ok:
            quota.this_upload += 1
    return Preview(kind=ChangeRequest.Kind.CREATE, rows=rows, quotas=list(quotas.values()))


def _quota(gateway: Gateway, *, open_creates: int) -> GatewayQuota:
    used = gateway.current_peer_link_count
    return GatewayQuota(
        gateway=gateway, used=used, quota=used + gateway.available_peer_link_count, open_creates=open_creates
    )


def _create_problem(
    row: Row, *, user: AbstractBaseUser, names: _Names, seen: dict[tuple[str, str], int]
) -> str:
    """Why this row cannot be asked for ("" when it can): the rules of changes.submit_change, and no
    second row with the same gateway and peer."""
    values = row.values
    missing = [name for name in REQUIRED if not values[name]]
    if missing:
        return _("Missing {columns}.").format(columns=", ".join(missing))
    row.gateway, problem = names.gateway(values["gateway"])
    if problem:
        return problem
    row.peer, problem = names.peer(values["peer"])
    if problem:
        return problem
    try:
        lifecycle.check_engineer_in(user, row.gateway.account)
        changes.check_payload(ChangeRequest.Kind.CREATE, row.payload())
    except ChangeRefused as exc:
        return str(exc)
    pair = (row.gateway.cloud_id, row.peer.cloud_id)
    if pair in seen:
        return _("The same gateway and peer as row {number}.").format(number=seen[pair])
    seen[pair] = row.number
    problems = changes.check_create(
        gateway_id=row.gateway.cloud_id,
        peer_type=row.peer_type,
        peer_region=row.peer.project.region,
        peer_id=row.peer.cloud_id,
    )
    return " ".join(problems.values())


def preview_deletes(*, user: AbstractBaseUser, link_ids: list[str]) -> Preview:
    """Each chosen link's verdict (would be asked to delete, or refused and why) and the quota it frees."""
    if not link_ids:
        raise UploadRefused(_("Choose at least one link."))
    if len(link_ids) > MAX_ROWS:
        raise UploadRefused(
            _("Too many links: {count}, at most {limit} at once.").format(count=len(link_ids), limit=MAX_ROWS)
        )
    found = {
        link.cloud_id: link
        for link in PeerLink.objects.visible_to(user)
        .filter(cloud_id__in=link_ids)
        .select_related("gateway__project__account")
    }
    rows, quotas = [], {}
    for number, link_id in enumerate(dict.fromkeys(link_ids), start=1):
        link = found.get(link_id)
        row = Row(number=number, values={"link": link_id, "name": link.name if link else ""}, link=link)
        rows.append(row)
        if link is None:
            row.problem = _("No such link.")
            continue
        row.gateway = link.gateway
        try:
            lifecycle.check_engineer_in(user, link.gateway.account)
        except ChangeRefused as exc:
            row.problem = str(exc)
        row.problem = row.problem or changes.link_refusal(link)
        if link.gateway_id not in quotas:
            quotas[link.gateway_id] = _quota(
                link.gateway, open_creates=len(changes.open_creates(gateway=link.gateway))
            )
        quotas[link.gateway_id].freed += 1 if row.ok else 0
    return Preview(kind=ChangeRequest.Kind.DELETE, rows=rows, quotas=list(quotas.values()))


# --- Asking for a batch --------------------------------------------------------------------------


class BatchRefused(ChangeRefused):
    """A batch not asked for because rows are refused: `preview` says which and why."""

    def __init__(self, message: str, preview: Preview) -> None:
        super().__init__(message)
        self.preview = preview


def submit_creates(
    *, user: AbstractBaseUser, records: list[dict[str, str]], leave_out_refused: bool = False
) -> ChangeBatch:
    """Ask for every row of an upload as one batch (the refused rows left out when asked to, else nothing
    is asked for while any row is refused)."""
    return _submit(user, lambda: preview_creates(user=user, records=records), leave_out_refused)


def submit_deletes(
    *, user: AbstractBaseUser, link_ids: list[str], leave_out_refused: bool = False
) -> ChangeBatch:
    """Ask to delete every chosen link as one batch (as `submit_creates`)."""
    return _submit(user, lambda: preview_deletes(user=user, link_ids=link_ids), leave_out_refused)


def _submit(user: AbstractBaseUser, preview_of, leave_out_refused: bool) -> ChangeBatch:
    """Check again and submit each accepted row with changes.submit_change, all in one transaction: a row
    refused there (someone took the quota meanwhile) leaves nothing asked for."""
    with transaction.atomic():
        preview = preview_of()
        refused = preview.refused
        if refused and not leave_out_refused:
            raise BatchRefused(
                ngettext(
                    "{count} row is refused: fix it, or leave it out.",
                    "{count} rows are refused: fix them, or leave them out.",
                    len(refused),
                ).format(count=len(refused)),
                preview,
            )
        if not preview.accepted:
            raise BatchRefused(_("No row can be asked for."), preview)
        batch = ChangeBatch.objects.create(kind=preview.kind, requested_by=user)
        for row in preview.accepted:
            try:
                changes.submit_change(
                    user=user,
                    kind=preview.kind,
                    gateway=row.gateway,
                    payload=row.payload(),
                    peer_link=row.link,
                    batch=batch,
                )
            except ChangeForbidden:
                raise
            except ChangeRefused as exc:
                raise ChangeRefused(
                    _("Row {number}: {problem}").format(number=row.number, problem=exc)
                ) from None
    return batch


# --- Deciding, cancelling and retrying a batch ----------------------------------------------------


def batch_rows(batch: ChangeBatch) -> QuerySet[ChangeRequest]:
    return batch.rows.order_by("pk")


def batch_digest(batch: ChangeBatch) -> str:
    """What one decision on the batch is bound to: its pending rows and each one's payload digest. A row
    edited, cancelled or decided on its own since changes it."""
    pending = batch_rows(batch).filter(state=State.PENDING_APPROVAL)
    canonical = json.dumps([[row.pk, row.payload_digest] for row in pending], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _lock_pending(batch_id: int, batch_digest_seen: str) -> tuple[ChangeBatch, list[ChangeRequest]]:
    """The batch locked, with its pending rows, once the version the caller saw is still the current one."""
    batch = ChangeBatch.objects.select_for_update().get(pk=batch_id)
    pending = list(batch_rows(batch).filter(state=State.PENDING_APPROVAL))
    if not pending:
        raise ChangeRefused(_("Nothing in this batch waits for a decision."))
    if batch_digest_seen != batch_digest(batch):
        raise ChangeOutdated(_("This batch changed after you opened it: review it again."))
    return batch, pending


def approve_batch(
    *, batch_id: int, user: AbstractBaseUser, batch_digest: str, comment: str = ""
) -> ChangeBatch:
    """Approve every pending row of the version of the batch the approver saw, in one transaction, each by
    approvals.approve_change (four eyes, roles, each account of a cross-account row): a row refused
    leaves every row undecided. A row the approver already approved is passed over."""
    with transaction.atomic():
        batch, pending = _lock_pending(batch_id, batch_digest)
        decided = []
        for row in pending:
            try:
                approvals.approve_change(
                    change_id=row.pk,
                    user=user,
                    payload_digest=row.payload_digest,
                    comment=comment,
                    tell_requester=False,
                )
            except approvals.ApprovalAlreadyCounts:
                continue
            except ChangeForbidden:
                raise
            except ChangeRefused as exc:
                raise type(exc)(_("Row #{id}: {problem}").format(id=row.pk, problem=exc)) from None
            decided.append(row)
        if not decided:
            raise approvals.ApprovalAlreadyCounts(
                _("Your approval already counts for every pending row of this batch.")
            )
        _tell_requester(batch, decided, user)
    return batch


def _tell_requester(batch: ChangeBatch, decided: list[ChangeRequest], user: AbstractBaseUser) -> None:
    """One notice and mail to the requester for this decision on the batch's rows (each row's webhooks
    are published as for any decision)."""
    recorded = Approval.objects.filter(change_request__in=decided, approver=user).order_by("pk")
    latest = {approval.change_request_id: approval.pk for approval in recorded}  # each row's newest
    dispatch.notify_batch("decided", batch_id=batch.pk, approval_ids=sorted(latest.values()))


def reject_batch(*, batch_id: int, user: AbstractBaseUser, batch_digest: str, comment: str) -> ChangeBatch:
    """Reject every pending row of the version of the batch the approver saw, saying why (the comment each
    row's rejection needs), in one transaction."""
    comment = approvals.rejection_comment(comment)
    with transaction.atomic():
        batch, pending = _lock_pending(batch_id, batch_digest)
        for row in pending:
            approvals.reject_change(
                change_id=row.pk,
                user=user,
                payload_digest=row.payload_digest,
                comment=comment,
                tell_requester=False,
            )
        _tell_requester(batch, pending, user)
    return batch


def cancel_batch(*, batch_id: int, user: AbstractBaseUser) -> ChangeBatch:
    """Withdraw every row of one's own batch that has not started running, in one transaction."""
    with transaction.atomic():
        batch = ChangeBatch.objects.select_for_update().get(pk=batch_id)
        open_rows = list(batch_rows(batch).filter(state__in=ChangeRequest.OPEN_STATES))
        cancellable = [row for row in open_rows if lifecycle.allows(row, "cancel", user=user)]
        if not cancellable:
            if open_rows:
                lifecycle.check(open_rows[0], "cancel", user=user)  # says why not
            raise ChangeRefused(_("Nothing in this batch can be cancelled now."))
        for row in cancellable:
            changes.cancel_change(change_id=row.pk, user=user)
    return batch


@dataclass
class Retried:
    """A retry of a batch's failed rows: the new batch, and the rows that could not be asked for again."""

    batch: ChangeBatch
    refused: list[tuple[ChangeRequest, str]]


def retry_failed(*, batch_id: int, user: AbstractBaseUser) -> Retried:
    """Ask again for the batch's failed rows, as a new batch needing approval again: each by
    approvals.retry_change. A row refused now (its quota taken meanwhile) stays failed and is named; the
    others are asked for."""
    with transaction.atomic():
        batch = ChangeBatch.objects.select_for_update().get(pk=batch_id)
        failed = list(batch_rows(batch).filter(state=State.FAILED))
        retryable = [row for row in failed if lifecycle.allows(row, "retry", user=user)]
        if not retryable:
            if failed:
                lifecycle.check(failed[0], "retry", user=user)  # says why not
            raise ChangeRefused(_("No failed row of this batch is left to retry."))
        new = ChangeBatch.objects.create(kind=batch.kind, requested_by=user, retry_of=batch)
        refused = []
        for row in retryable:
            try:
                with transaction.atomic():
                    approvals.retry_change(change_id=row.pk, user=user, batch=new)
            except ChangeForbidden:
                raise
            except ChangeRefused as exc:
                refused.append((row, str(exc)))
        if len(refused) == len(retryable):
            raise ChangeRefused(
                " ".join(_("Row #{id}: {problem}").format(id=row.pk, problem=why) for row, why in refused)
            )
    return Retried(batch=new, refused=refused)


# --- Where a batch stands ------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchSummary:
    """How many rows of a batch are in each state, and whether any is still to finish."""

    total: int
    by_state: dict[str, int]

    @property
    def pending(self) -> int:
        return self.by_state.get(State.PENDING_APPROVAL, 0)

    @property
    def failed(self) -> int:
        return self.by_state.get(State.FAILED, 0)

    @property
    def done(self) -> int:
        return self.by_state.get(State.DONE, 0)

    @property
    def is_final(self) -> bool:
        return not any(self.by_state.get(state, 0) for state in ChangeRequest.OPEN_STATES)

    def counts(self) -> list[tuple[str, int]]:
        """(state in words, count) for each state some row is in, in the lifecycle's order."""
        return [(label, self.by_state[value]) for value, label in State.choices if self.by_state.get(value)]


def summary(rows: list[ChangeRequest]) -> BatchSummary:
    return BatchSummary(total=len(rows), by_state=dict(Counter(row.state for row in rows)))


def visible_batches(user: AbstractBaseUser) -> QuerySet[ChangeBatch]:
    """The batches `user` may read: those with a row they may read (the batch's page then shows every row)."""
    readable = ChangeRequest.objects.visible_to(user).filter(batch=OuterRef("pk"))
    return ChangeBatch.objects.filter(Exists(readable)).select_related("requested_by", "retry_of")


# What a batch's rows show that changes while they run: each row's state, error, names (its payload, edited
# while pending) and link; the counts and the steps offered follow from them.
SHOWN_FACTS = (
    "pk",
    "state",
    "error_msg",
    "payload",
    "peer_link__cloud_id",
    "peer_link__name",
    "peer_link__status",
    "peer_link__gone_at",
)


def rows_version(batch: ChangeBatch) -> str:
    """What the batch's rows show now, as a digest (one query, no rows built): a batch's page gives it to its
    one poll, which answers with the rows again only once it changed."""
    facts = list(batch_rows(batch).values_list(*SHOWN_FACTS))
    canonical = json.dumps(facts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class BatchProgress:
    """A batch's rows as its page shows them, how many are in each state, the steps (`lifecycle`) the person
    it was read for may take on some row now, and the version of what the rows show (`rows_version`)."""

    rows: list[ChangeRequest]
    summary: BatchSummary
    actions: frozenset[str]
    version: str

    @property
    def can_decide(self) -> bool:
        return bool({"approve", "reject"} & self.actions)

    @property
    def can_cancel(self) -> bool:
        return "cancel" in self.actions

    @property
    def can_retry(self) -> bool:
        return "retry" in self.actions


def batch_progress(batch: ChangeBatch, *, user: AbstractBaseUser, version: str = "") -> BatchProgress:
    """Where `batch` stands, as its page shows it to `user`; `version`: its rows' version, when just read."""
    # The version first: a row that moves on while the rows are read makes it older than what they show,
    # so the poll brings them again; never the other way round (rows older than their version stay stale).
    version = version or rows_version(batch)
    rows = list(
        batch_rows(batch)
        .select_related("gateway__project__account", "peer_account", "peer_link", "requested_by")
        .with_first_retry()
    )
    actions = frozenset(name for row in rows for name in lifecycle.allowed(row, user))
    return BatchProgress(rows=rows, summary=summary(rows), actions=actions, version=version)


@dataclass(frozen=True)
class FollowedBatch:
    """A batch a page shows while some row is still to finish: where it stands now if what its rows show
    changed since the page showed them (else None), and whether a row is still to finish (then the page
    keeps polling fast)."""

    batch: ChangeBatch | None
    changed: BatchProgress | None
    is_open: bool


def follow_batch(*, user: AbstractBaseUser, batch_id: int | None = None, shown: str = "") -> FollowedBatch:
    """The batch `batch_id` whose page showed its rows' version `shown` (none: no batch); one `user` may not
    read is left out. Unchanged, it costs two small queries; changed, the rows are read as the page reads
    them."""
    batch = visible_batches(user).filter(pk=batch_id).first() if batch_id is not None else None
    if batch is None:
        return FollowedBatch(batch=None, changed=None, is_open=False)
    version = rows_version(batch)
    if version == shown:
        return FollowedBatch(batch=batch, changed=None, is_open=True)  # it showed a row still to finish
    progress = batch_progress(batch, user=user, version=version)
    return FollowedBatch(batch=batch, changed=progress, is_open=not progress.summary.is_final)


def awaiting_decision(user: AbstractBaseUser) -> QuerySet[ChangeBatch]:
    """Batches with a pending row `user` may decide (the approval queue lists each once), oldest first,
    with their number of rows (`total`) and of pending rows (`pending`)."""
    rows = approvals.awaiting_decision(user).filter(batch__isnull=False)
    return (
        ChangeBatch.objects.filter(pk__in=rows.values("batch"))
        .annotate(total=Count("rows"), pending=Count("rows", filter=Q(rows__state=State.PENDING_APPROVAL)))
        .order_by("created_at", "id")
    )

"""How a peer link is drawn: its status badge, its peer, and its row in the link tables (the list page and a
gateway's page).

The rows are drawn here in Python, as Django's admin draws its change list, rather than through a template:
a page of 50 rows through the template language took about two thirds of the list page's time (issue 13).
What a row shows is unchanged; templates call these through the `status_badge`, `peer` and `link_rows` tags.
"""

from collections.abc import Iterable
from datetime import datetime, tzinfo
from html import escape as esc
from typing import Any
from urllib.parse import quote

from django.http import QueryDict
from django.template.defaulttags import querystring
from django.utils import timezone
from django.utils.formats import localize
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from peerlinks.models import CloudAccount, PeerLink
from peerlinks.presentation.addresses import address, object_address
from peerlinks.presentation.times import format_time
from peerlinks.services.links import peer_account_name, peer_name


def status_labels() -> dict[str, str]:
    """Each status as a person reads it, in the active language ("" for a link gone from the cloud)."""
    return {
        "": pgettext("peer link status", "Gone"),
        "ACTIVE": pgettext("peer link status", "Active"),
        "PENDING_CREATE": _("Creating…"),
        "PENDING_UPDATE": _("Updating…"),
        "ERROR": pgettext("peer link status", "Error"),
    }


def status_label(link: PeerLink, labels: dict[str, str] | None = None) -> str:
    """A link's status as a person reads it: "Gone" once it left the cloud, "Creating…" while it is made.
    A table passes `labels` (status_labels()), read once for all its rows."""
    labels = labels or status_labels()
    if link.gone_at:
        return labels[""]
    if link.status in labels:
        return labels[link.status]
    return link.status or pgettext("peer link status", "Unknown")


def followed(link: PeerLink) -> bool:
    """Whether the page's one poll follows this link's badge: while it is pending and still in the cloud."""
    return link.is_pending and not link.gone_at


def status_badge(
    link: PeerLink, *, follow: bool, oob: bool = False, labels: dict[str, str] | None = None
) -> SafeString:
    """A link's status badge. With `follow` it names itself to the page's one poll (a hidden input the poll
    includes, owned by no form); with `oob` it is the poll's out-of-band answer that replaces it."""
    cloud_id = esc(str(link.cloud_id))
    css = "gone" if link.gone_at else esc((link.status or "").lower())
    swap = ' hx-swap-oob="true"' if oob else ""
    title = f' title="{esc(link.reason)}"' if link.reason else ""
    poll = (
        f'<input type="hidden" class="live-link" name="link" value="{cloud_id}:{esc(link.status)}" '
        'form="live-poll">'
        if follow
        else ""
    )
    label = esc(status_label(link, labels))
    return mark_safe(
        f'<span id="status-{cloud_id}" class="badge status-{css}"{swap}{title}>{label}{poll}</span>'
    )


def peer_kinds() -> dict[str, str]:
    """Each peer type as a person reads it, in the active language."""
    return {value: str(label) for value, label in PeerLink.PeerType.choices}


def peer_kind(peer_type: str, kinds: dict[str, str] | None = None) -> str:
    """A peer type as a person reads it ("Enterprise router"); an unknown code as it is."""
    return (kinds or peer_kinds()).get(peer_type, peer_type)


def peer(
    peer_type: str,
    peer_id: str,
    region: str = "",
    name: str | None = None,
    beside: CloudAccount | None = None,
    kinds: dict[str, str] | None = None,
    account: str | None = None,
) -> SafeString:
    """A link's peer as a person reads it: its kind and cached name, with its ID after it in small type
    (the ID alone, marked as such, when the peer is not in the cache); then its region, if given, and,
    given the account `beside` it (the gateway's), the peer's account when it is another one.
    Pass `name` (and `account`, the peer's account name) when the row already carries it (`with_peer_name`,
    `with_peer`), so a table costs no query per row."""
    kind = esc(peer_kind(peer_type, kinds) or _("Peer"))
    if name is None:
        name = peer_name(peer_type=peer_type, peer_id=peer_id) if peer_id else ""
    where = " " + esc(_("in {region}").format(region=region)) if region else ""
    if beside is not None and peer_id:
        if account is None:
            account = peer_account_name(peer_type=peer_type, peer_id=peer_id)
        if account and account != beside.name:
            text = _("account {account}").format(account=account)
            where = f'{where} <span class="peer-account badge">{esc(text)}</span>'
    peer_id_title, the_id = esc(_("Peer ID")), esc(peer_id)
    if name:
        return mark_safe(
            f'<span class="peer">{kind} <strong class="peer-name">{esc(name)}</strong> '
            f'<code class="peer-id hint small" title="{peer_id_title}">{the_id}</code>{where}</span>'
        )
    unknown = esc(_("(name not known to dcportal)"))
    return mark_safe(
        f'<span class="peer">{kind} <code class="peer-id" title="{peer_id_title}">{the_id}</code> '
        f'<span class="hint small">{unknown}</span>{where}</span>'
    )


def _time_cell(value: datetime | None, zone: tzinfo) -> str:
    if not value:
        return "–"
    full, short = format_time(value, full=True, zone=zone), format_time(value, zone=zone)
    return f'<span title="{esc(full)}">{esc(short)}</span>'


# What a new order or a page link leaves out of the list's address: where the page it shows stands.
_PAGE_PLACE = {"page": None, "after": None, "before": None, "last": None}


def sort_header(query: QueryDict, column: dict[str, str], label: str, target: str) -> SafeString:
    """One sortable column header of the link table: a link to the same filters ordered by this column
    (`column`: views.links._sort_columns'), back to the first page; htmx swaps `target`. Drawn here rather
    than by a template per header (a millisecond a table), with Django's own querystring."""
    href, arrow = esc(querystring(None, query, sort=column["next"], **_PAGE_PLACE)), column["arrow"]
    sorted_css = " sorted" if arrow else ""
    shown_arrow = f' <span class="arrow">{esc(arrow)}</span>' if arrow else ""
    return mark_safe(
        f'<th class="sortable{sorted_css}"><a href="{href}" hx-get="{href}" hx-target="{esc(target)}" '
        f'hx-swap="outerHTML" hx-push-url="true">{esc(label)}{shown_arrow}</a></th>'
    )


def link_pager(query: QueryDict, page: Any, pager_id: str, target: str) -> SafeString:
    """The link table's pager (`page`: views.links.LinkPage): how many links match, and links to the first,
    previous, next and last pages, each seeking from a row of this page with the same filters and order;
    htmx swaps `target` and pushes the address. Drawn here for the same reason as the headers."""
    window, hx = page.window, f'hx-target="{esc(target)}" hx-swap="outerHTML" hx-push-url="true"'

    def to(rel: str, text: str, **place: object) -> str:
        href = esc(querystring(None, query, **(_PAGE_PLACE | place)))
        return f'<a href="{href}" hx-get="{href}" {hx} rel="{rel}">{esc(text)}</a>'

    if page.count:
        total = ngettext("%(total)s link", "%(total)s links", page.count) % {"total": localize(page.count)}
    else:
        total = _("0 results")
    parts = [f'<nav class="pager" id="pager-{esc(pager_id)}">', f'<span class="hint">{total}</span>']
    if window.has_before:
        parts += [to("first", _("« First")), to("prev", _("‹ Previous"), before=window.first_token)]
    if window.has_after:
        parts += [to("next", _("Next ›"), after=window.last_token), to("last", _("Last »"), last=1)]
    return mark_safe("\n".join([*parts, "</nav>"]))


def error_rows(links: Iterable[PeerLink], *, several_accounts: bool) -> SafeString:
    """The rows of the dashboard's "Links in error" table (up to 50: drawn here as link_rows are): each link,
    its gateway with region (and account, when there are several) and the cloud's reason."""
    link_url = object_address("peerlinks:detail")
    no_reason = esc(_("No reason given by the cloud."))
    rows = []
    for link in links:
        gateway = link.gateway
        where = esc(gateway.project.region)
        if several_accounts:
            where += f" · {esc(gateway.project.account.name)}"
        rows.append(
            f'<tr><td><a href="{link_url(link.cloud_id)}">{esc(link.name)}</a></td>'
            f'<td>{esc(gateway.name)} <span class="hint small">{where}</span></td>'
            f'<td class="error small">{esc(link.reason) if link.reason else no_reason}</td></tr>'
        )
    return mark_safe("\n".join(rows))


def link_rows(
    links: Iterable[PeerLink], *, choosing: bool, hide_gateway: bool, several_accounts: bool
) -> tuple[SafeString, bool]:
    """The `<tbody>` of a link table, and whether a row's badge is followed by the page's poll.

    Plain f-strings with every value escaped (`esc`, the escaping Django's own `escape` does), and each
    translated text looked up once per table: `format_html` per cell cost as much as the template did."""
    list_url = address("peerlinks:link_list")
    link_url, gateway_url = object_address("peerlinks:detail"), object_address("peerlinks:gateway_detail")

    def filtered(key: str, value: str, css: str = "") -> str:
        """A link to the list filtered by one value (an owner, a ticket, a label), showing that value."""
        return f'<a{css} href="{list_url}?{key}={esc(quote(value, safe="/"))}">{esc(value)}</a>'

    none = '<span class="hint">–</span>'
    managed_there, nothing = esc(_("Managed by Cloud Connect")), esc(_("No peer link matches."))
    choose, waiting_text = _("Choose %(name)s"), _("Waiting for %(account)s to accept the attachment.")
    labels, kinds, zone = status_labels(), peer_kinds(), timezone.get_current_timezone()
    cloud_connect = f' <span class="tag" title="{managed_there}">CC</span>'
    rows = []
    any_followed = False
    for link in links:
        follow = followed(link)
        any_followed |= follow
        name, cloud_id = esc(link.name), esc(str(link.cloud_id))
        check = ""
        if choosing:
            disabled = " disabled" if link.gone_at or link.is_read_only else ""
            label = esc(choose % {"name": link.name})
            check = (
                f'<input type="checkbox" class="choose" name="link" value="{cloud_id}" form="bulk-delete" '
                f'aria-label="{label}"{disabled}> '
            )
        description = (
            f' <div class="hint small truncate">{esc(link.description)}</div>' if link.description else ""
        )
        cells = [
            f'<td>{check}<a href="{link_url(link.cloud_id)}">{name}</a>'
            f"{cloud_connect if link.is_read_only else ''}{description}</td>",
            f"<td>{status_badge(link, follow=follow, labels=labels)}",
        ]
        waiting_for = getattr(link, "waiting_for", None)
        if waiting_for:
            waiting = waiting_text % {"account": waiting_for}
            cells.append(f'<div class="hint small waiting-for">{esc(waiting)}</div>')
        if link.status == "ERROR" and link.reason:
            reason = esc(link.reason)
            cells.append(f' <div class="error small truncate" title="{reason}">{reason}</div>')
        cells.append("</td>")
        if not hide_gateway:
            gateway = link.gateway
            cells.append(f'<td><a href="{gateway_url(gateway.cloud_id)}">{esc(gateway.name)}</a></td>')
            if several_accounts:
                cells.append(f"<td>{filtered('account', gateway.project.account.name)}</td>")
            cells.append(f"<td>{esc(gateway.project.region)}</td>")
        peer_html = peer(
            link.peer_type, link.peer_gateway_id, name=getattr(link, "peer_name", ""), kinds=kinds
        )
        tags = " ".join(filtered("label", label, ' class="tag"') for label in link.labels or ())
        cells += [
            f'<td class="peer-cell">{peer_html}</td><td>{esc(link.peer_region)}</td>',
            f"<td>{filtered('owner', link.owner_team) if link.owner_team else none}</td>",
            f"<td>{filtered('ticket', link.ticket_ref) if link.ticket_ref else none}</td>",
            f"<td>{tags or none}</td>",
            f'<td class="nowrap">{_time_cell(link.cloud_created_at, zone)}</td>',
            f'<td class="nowrap">{_time_cell(link.cloud_updated_at, zone)}</td>',
        ]
        gone = ' class="gone"' if link.gone_at else ""
        rows.append(f'<tr id="link-{cloud_id}"{gone}>{"".join(cells)}</tr>')
    if not rows:
        columns = 9 if hide_gateway else 12 if several_accounts else 11
        rows.append(f'<tr><td colspan="{columns}" class="hint empty">{nothing}</td></tr>')
    return mark_safe(f'<tbody id="peerlink-rows">{"".join(rows)}</tbody>'), any_followed

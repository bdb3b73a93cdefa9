"""Text as mail, notices and pages show it."""

import json

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from peerlinks import cloud
from peerlinks.presentation import reasons


def one_line(value: object) -> str:
    """The value on one line: line breaks (any kind) and runs of spaces become one space, so text from the
    cloud or a person cannot add a header to a mail or a line that looks like dcportal wrote it."""
    return " ".join(str(value).split())


# A failed cloud call is stored as what went wrong (its kind, and the cloud's own message where that is the
# point), never as a sentence: the sentence is built when a page is drawn, in its reader's language.
_KINDS: list[tuple[type[cloud.CloudError], str]] = [
    (cloud.CloudTimeout, "timeout"),
    (cloud.CloudUnreachable, "unreachable"),
    (cloud.AuthenticationFailed, "credentials"),
    (cloud.Forbidden, "forbidden"),
    (cloud.Throttled, "throttled"),
    (cloud.ServerError, "server"),
    (cloud.InvalidResponse, "invalid"),
    (cloud.NotFound, "not_found"),
    (cloud.Conflict, "busy"),
]


def _problem(exc: Exception) -> dict:
    for kind_class, kind in _KINDS:
        if isinstance(exc, kind_class):
            return {"kind": kind}
    if isinstance(exc, cloud.CloudError) and exc.error_msg and exc.status and 400 <= exc.status < 500:
        return {"kind": "refused", "message": one_line(exc.error_msg)}
    return {"kind": "failed"}


def cloud_problem(exc: Exception) -> str:
    """A failed cloud call as it is stored (`CloudProject.sync_problem`): read it with describe_problem."""
    return json.dumps(_problem(exc))


def gateways_problem(failed: list[Exception]) -> str:
    """Stored when the peer links of some gateways could not be listed (the first failure says why)."""
    if not failed:
        return ""
    return json.dumps({"kind": "gateways", "count": len(failed), "cause": _problem(failed[0])})


def _sentence(problem: dict) -> str:
    kind = problem.get("kind")
    if kind == "timeout":
        return _("Huawei Cloud did not answer in time.")
    if kind == "unreachable":
        return _("dcportal cannot reach Huawei Cloud (no connection to its API).")
    if kind == "credentials":
        return _(
            "Huawei Cloud does not accept dcportal's credentials: "
            "an administrator needs to check its access keys."
        )
    if kind == "forbidden":
        return _(
            "Huawei Cloud refuses this to dcportal's account: "
            "an administrator needs to check its IAM permissions."
        )
    if kind == "throttled":
        return _("Huawei Cloud is limiting how often dcportal may ask; it tries again shortly.")
    if kind == "server":
        return _("Huawei Cloud answered with a server error; dcportal tries again shortly.")
    if kind == "invalid":
        return _("Huawei Cloud answered something dcportal does not understand.")
    if kind == "not_found":
        return _("Huawei Cloud does not know this resource (it may have been deleted).")
    if kind == "busy":
        return _("Huawei Cloud says the resource is busy (a change to it is still under way).")
    if kind == "refused" and problem.get("message"):
        return _(reasons.CLOUD_REFUSED).format(message=problem["message"])
    if kind == "gateways":
        count = int(problem.get("count") or 0)
        return ngettext(
            "The peer links of {count} gateway could not be listed: {problem}",
            "The peer links of {count} gateways could not be listed: {problem}",
            count,
        ).format(count=count, problem=_sentence(problem.get("cause") or {}))
    return _("A call to Huawei Cloud failed.")


def describe_problem(stored: str) -> str:
    """A stored cloud problem (cloud_problem, gateways_problem) as one sentence in the active language;
    "" for none. Text stored before problems were stored by kind is shown as it is."""
    if not stored:
        return ""
    try:
        problem = json.loads(stored)
    except ValueError:
        return stored
    return _sentence(problem) if isinstance(problem, dict) else stored


def describe_cloud_error(exc: Exception) -> str:
    """A failed cloud call as one sentence a network engineer reads, in the active language: what went
    wrong and what happens next.

    The technical text (`str(exc)`: operation, HTTP status, Huawei's code and message, request id) is shown
    beside it, behind a disclosure; it has its keys redacted already (peerlinks.cloud.errors).
    """
    return _sentence(_problem(exc))


def stored_cloud_error(exc: Exception) -> str:
    """describe_cloud_error's sentence in English, as a change records it whoever is reading
    (`ChangeRequest.error_msg`); its pages say it again in their reader's language."""
    with translation.override("en"):
        return describe_cloud_error(exc)

"""Why a change failed or waits, as it is stored and as a person reads it.

A worker carrying out a change has no viewer, so it stores these sentences in English
(`ChangeRequest.error_msg`, the audit log). A page or mail translates them into its reader's language when it
shows them: `translated` recognises each sentence below, with its values, and says it again in the active
language.
"""

import re
from functools import cache

from django.utils.translation import gettext, gettext_noop

# Refused by the look at the cloud just before sending: nothing was sent.
ALREADY_LINKED = gettext_noop("The gateway already has a peer link to this peer ({name}); nothing was sent.")
GATEWAY_NOT_ACTIVE = gettext_noop("The gateway is {status}, not ACTIVE; nothing was sent.")
GATEWAY_STATE_UNKNOWN = gettext_noop("The gateway is in an unknown state, not ACTIVE; nothing was sent.")
NO_QUOTA = gettext_noop("The gateway has no peer-link quota left in the cloud; nothing was sent.")
ROUTER_NOT_AVAILABLE = gettext_noop("Enterprise router {name} is {state}, not available; nothing was sent.")
PEER_GATEWAY_NOT_ACTIVE = gettext_noop("Peer gateway {name} is {status}, not ACTIVE; nothing was sent.")
PEER_GONE = gettext_noop("The peer no longer exists in the cloud; nothing was sent.")
LINK_UNKNOWN = gettext_noop("The link is no longer known here; nothing was sent.")
LINK_GONE = gettext_noop("The link no longer exists in the cloud; nothing was sent.")
LINK_CLOUD_CONNECT = gettext_noop(
    "The link belongs to Cloud Connect and can only be changed there; nothing was sent."
)
LINK_NOT_SETTLED = gettext_noop("The link is {status} in the cloud, not settled; nothing was sent.")
# Passing problems: the change is tried again later.
RENAME_WAITS = gettext_noop("The link is {status}; the rename waits until it is final.")
DELETE_WAITS = gettext_noop("The link is busy in the cloud ({detail}); the delete waits.")
GAVE_UP = gettext_noop("Gave up after {count} attempts: {reason}")
# What following the link to a final status found.
LINK_VANISHED = gettext_noop("The link disappeared from the cloud.")
LINK_ENDED = gettext_noop("The link ended in {status}: {reason}")
LINK_ENDED_NO_REASON = gettext_noop("The link ended in {status}: the cloud gave no reason")
FOLLOW_TIMEOUT = gettext_noop("The cloud did not finish the change within {seconds} s.")
# A cloud failure in plain words with the cloud's own message (presentation.text.describe_cloud_error).
CLOUD_REFUSED = gettext_noop("Huawei Cloud refused the request: {message}")

SENTENCES = (
    ALREADY_LINKED,
    GATEWAY_STATE_UNKNOWN,  # before GATEWAY_NOT_ACTIVE, which would take "in an unknown state" for a status
    GATEWAY_NOT_ACTIVE,
    NO_QUOTA,
    ROUTER_NOT_AVAILABLE,
    PEER_GATEWAY_NOT_ACTIVE,
    PEER_GONE,
    LINK_UNKNOWN,
    LINK_GONE,
    LINK_CLOUD_CONNECT,
    LINK_NOT_SETTLED,
    RENAME_WAITS,
    DELETE_WAITS,
    GAVE_UP,
    LINK_VANISHED,
    LINK_ENDED_NO_REASON,  # before LINK_ENDED, which would take "the cloud gave no reason" for the cloud's
    LINK_ENDED,
    FOLLOW_TIMEOUT,
    CLOUD_REFUSED,
)


@cache
def _patterns() -> list[tuple[re.Pattern[str], str]]:
    """Each sentence as a pattern that finds its values in a stored text."""
    patterns = []
    for sentence in SENTENCES:
        parts = re.split(r"\{(\w+)\}", sentence)
        regex = "".join(
            re.escape(part) if index % 2 == 0 else f"(?P<{part}>.*?)" for index, part in enumerate(parts)
        )
        patterns.append((re.compile(f"^{regex}$", re.DOTALL), sentence))
    return patterns


def translated(text: str) -> str:
    """A stored sentence in the active language: one of SENTENCES, or any other sentence the catalog holds
    (a cloud failure in plain words); else as stored (the cloud's own text)."""
    text = str(text or "")
    return _sentence(text) or (gettext(text) if text else text)


def _sentence(text: str) -> str:
    """One of SENTENCES in the active language ("" if `text` is none of them). Names and statuses stay as
    they are; a reason is translated in turn (after "Gave up after 3 attempts:" it is another sentence)."""
    for pattern, sentence in _patterns():
        match = pattern.match(text)
        if match:
            values = {
                name: translated(value) if name == "reason" else _sentence(value) or value
                for name, value in match.groupdict().items()
            }
            return gettext(sentence).format(**values)
    return ""

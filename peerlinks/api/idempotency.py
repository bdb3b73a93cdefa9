"""`Idempotency-Key` on POSTs, with Stripe's semantics: the first answer to a key is kept (success or
refusal) and a retry with the same key and the same request gets it again, creating nothing new; the same
key with another request is a 422. Keys are per user and kept API_IDEMPOTENCY_HOURS.

The answer is stored in the same transaction as the work it describes, so the two cannot part: a retry
racing the first request waits for it (the key's unique row) and then gets its answer.
"""

import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from peerlinks.api.problems import ApiProblem, for_exception
from peerlinks.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
KEY_RE = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}")  # as the schema says (peerlinks.api)


def once(request: HttpRequest, respond: Callable[[], HttpResponse]) -> HttpResponse:
    """`respond()` (the operation, drawn as a response), or the answer already given to this key."""
    key = request.headers.get(HEADER)
    if key is None:
        return _answer(respond)
    key = key.strip()
    if not KEY_RE.fullmatch(key):
        raise ApiProblem(
            400,
            _("An Idempotency-Key is 1 to {count} printable ASCII characters without spaces.").format(
                count=MAX_KEY_LENGTH
            ),
            kind="invalid-idempotency-key",
        )
    fingerprint = _fingerprint(request)
    kept_since = timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_HOURS)
    IdempotencyKey.objects.filter(created_at__lt=kept_since).delete()  # forgotten: anyone's, past their time
    earlier = IdempotencyKey.objects.filter(user=request.user, key=key).first()
    if earlier is not None:
        return _replay(earlier, fingerprint)
    try:
        with transaction.atomic():
            response = _answer(respond)
            if response.status_code >= 500:
                return response  # not kept: a retry may succeed
            IdempotencyKey.objects.create(
                user=request.user,
                key=key,
                fingerprint=fingerprint,
                status=response.status_code,
                content_type=response.get("Content-Type", ""),
                body=response.content.decode(),
                location=response.get("Location", ""),
            )
    except IntegrityError:
        # The same key's other request got there first (and its work is kept, not this one's).
        earlier = IdempotencyKey.objects.filter(user=request.user, key=key).first()
        if earlier is None:
            raise
        return _replay(earlier, fingerprint)
    return response


def _answer(respond: Callable[[], HttpResponse]) -> HttpResponse:
    """The operation's response, or its refusal drawn as problem details (kept like any other answer)."""
    try:
        with transaction.atomic():
            return respond()
    except Exception as exc:
        response = for_exception(exc)
        if response is None:
            raise
        return response


def _replay(earlier: IdempotencyKey, fingerprint: str) -> HttpResponse:
    if earlier.fingerprint != fingerprint:
        raise ApiProblem(
            422,
            _("This Idempotency-Key was used for another request: use a new key for a new request."),
            kind="idempotency-key-reused",
        )
    response = HttpResponse(earlier.body, status=earlier.status, content_type=earlier.content_type)
    if earlier.location:
        response["Location"] = earlier.location
    response["Idempotent-Replayed"] = "true"
    return response


def _fingerprint(request: HttpRequest) -> str:
    """The request a key stands for: method, path and body (JSON compared by content, not spacing)."""
    try:
        body = json.dumps(json.loads(request.body or b"null"), sort_keys=True, separators=(",", ":"))
    except ValueError:
        body = request.body.decode(errors="replace")
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()

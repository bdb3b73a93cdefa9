"""Personal API tokens: made (the secret shown once, only its SHA-256 kept), revoked, recognised on each
API request, and counted against the per-token rate limit."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from peerlinks.models import ApiToken
from peerlinks.services.audit import record_audit

TOKEN_PREFIX = "dcp_"
SHOWN_PREFIX_LENGTH = 12  # "dcp_" and 8 characters of the secret: enough to tell tokens apart


class TokenNotFound(Exception):
    """No token of this person by that id (or it is someone else's)."""


@dataclass(frozen=True)
class NewToken:
    """A token just made, with its secret: the only time the secret exists outside the request."""

    token: ApiToken
    secret: str


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(*, user: AbstractBaseUser, name: str, scope: str, days: int) -> NewToken:
    """Make a token for `user` that expires in `days` days; audited as api_token.created."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            owner=user,
            name=name,
            prefix=secret[:SHOWN_PREFIX_LENGTH],
            key_hash=hash_key(secret),
            scope=scope,
            expires_at=timezone.now() + timedelta(days=days),
        )
        record_audit(action="api_token.created", actor=user, obj=token, after=_facts(token))
    return NewToken(token=token, secret=secret)


def revoke_token(*, token_id: int, user: AbstractBaseUser) -> ApiToken:
    """Revoke one of `user`'s own tokens for good (revoking it again changes nothing); audited."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(pk=token_id, owner=user).first()
        if token is None:
            raise TokenNotFound(token_id)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            record_audit(action="api_token.revoked", actor=user, obj=token, before=_facts(token))
    return token


def _facts(token: ApiToken) -> dict:
    return {
        "token_name": token.name,
        "token_prefix": token.prefix,
        "token_scope": token.scope,
        "expires_at": token.expires_at,
    }


def tokens_of(user: AbstractBaseUser) -> list[ApiToken]:
    return list(ApiToken.objects.filter(owner=user))


def find_token(secret: str) -> ApiToken | None:
    """The usable token (not revoked, not expired, its owner active) whose secret this is, with its owner."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    return ApiToken.objects.usable().select_related("owner").filter(key_hash=hash_key(secret)).first()


def count_request(token: ApiToken, *, now: datetime | None = None) -> float | None:
    """Count one request against the token's limit (API_RATE_LIMIT a minute) and stamp it as last used.

    Returns None while within the limit, else the seconds until the next minute starts. One UPDATE in the
    database, so every web process counts into the same minute.
    """
    now = now or timezone.now()
    minute = now.replace(second=0, microsecond=0)
    ApiToken.objects.filter(pk=token.pk).update(
        window_count=Case(When(window_start=minute, then=F("window_count") + 1), default=Value(1)),
        window_start=minute,
        last_used_at=now,
    )
    count = ApiToken.objects.filter(pk=token.pk).values_list("window_count", flat=True).first() or 0
    if count <= settings.API_RATE_LIMIT:
        return None
    return max(1.0, (minute + timedelta(minutes=1) - now).total_seconds())

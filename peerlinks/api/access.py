"""What every API operation shares: the permission it needs (for the account of the object it touches),
reading an object or a 404, and drawing a result with its schema."""

import json
from typing import Any

from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Schema
from pydantic import field_validator

from peerlinks.api.problems import ApiProblem


class Input(Schema):
    """What a caller sends, as a body or a query: text with a NUL character is refused (422), as the pages'
    forms refuse it; the database could neither store nor compare it."""

    @field_validator("*", mode="before")
    @classmethod
    def no_null_characters(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError(_("Null characters are not allowed."))
        return value


def require(request: HttpRequest, perm: str, obj: Any = None) -> None:
    """Refuse (403) unless the caller holds `perm`: for the account `obj` is in when given (a gateway, a
    change), else for at least one account, as the pages' decorator asks."""
    if not request.user.has_perm(perm, obj):
        raise ApiProblem(403, _("Your role does not allow this."), kind="forbidden")


def get_or_404(queryset: QuerySet, **lookup: Any) -> Model:
    found = queryset.filter(**lookup).first()
    if found is None:
        raise ApiProblem(404, _("There is nothing here."))
    return found


def drawn(
    request: HttpRequest, schema: type[Schema], obj: Any, *, status: int = 200, location: str = ""
) -> HttpResponse:
    """`obj` as `schema` draws it, as a response (POST operations build theirs to keep it for a retry)."""
    data = schema.model_validate(obj, context={"request": request}).model_dump(mode="json")
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False), status=status, content_type="application/json"
    )
    if location:
        response["Location"] = request.build_absolute_uri(location)
    return response


def invalid_filters(errors: dict) -> ApiProblem:
    """Filters its FilterSet found invalid, as a 422 (the pages ignore them; API callers are told)."""
    return ApiProblem(
        422,
        _("Some filters are not valid."),
        kind="invalid-filter",
        errors=[{"loc": ["query", name], "msg": " ".join(messages)} for name, messages in errors.items()],
    )


def invalid_body(errors: dict) -> ApiProblem:
    """A body the page's form refuses (its rules, beyond the schema's types), as a 422 naming each field."""
    return ApiProblem(
        422,
        " ".join(message for messages in errors.values() for message in messages),
        kind="invalid-request",
        errors=[
            {"loc": ["body", *([] if name == "__all__" else [name])], "msg": " ".join(messages)}
            for name, messages in errors.items()
        ],
    )

"""Listing rules DC and ER share: keep the items a filter names, sort by a key, and page after a marker."""

from dcsim.errors import bad_parameter


def filter_by(items: list[dict], key: str, values: list[str] | None, *, lower: bool = False) -> list[dict]:
    """The items whose ``key`` is one of ``values`` (all of them when the filter was not sent)."""
    if values is None:
        return items
    wanted = {value.lower() for value in values} if lower else set(values)
    return [item for item in items if item.get(key) in wanted]


def sort_by(items: list[dict], sort_key: str, descending: bool) -> list[dict]:
    """Sorted by ``sort_key`` as text (missing values last), ties broken by ID."""

    def key(item: dict) -> tuple:
        value = item.get(sort_key)
        return (value is None, "" if value is None else str(value), item["id"])

    return sorted(items, key=key, reverse=descending)


def page_after(items: list[dict], marker: str | None, limit: int, code: str) -> tuple[list[dict], bool]:
    """Up to ``limit`` items after the one whose ID is ``marker``, and whether more follow."""
    start = 0
    if marker:
        ids = [item["id"] for item in items]
        if marker.lower() not in ids:
            raise bad_parameter(f"marker {marker} does not match any record", code=code)
        start = ids.index(marker.lower()) + 1
    page = items[start : start + limit]
    return page, start + limit < len(items)

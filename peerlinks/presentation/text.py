"""Text as mail and notices show it."""


def one_line(value: object) -> str:
    """The value on one line: line breaks (any kind) and runs of spaces become one space, so text from the
    cloud or a person cannot add a header to a mail or a line that looks like dcportal wrote it."""
    return " ".join(str(value).split())

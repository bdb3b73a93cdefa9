"""Text as mail, notices and pages show it."""

from peerlinks import cloud


def one_line(value: object) -> str:
    """The value on one line: line breaks (any kind) and runs of spaces become one space, so text from the
    cloud or a person cannot add a header to a mail or a line that looks like dcportal wrote it."""
    return " ".join(str(value).split())


def describe_cloud_error(exc: Exception) -> str:
    """A failed cloud call as one sentence a network engineer reads: what went wrong and what happens next.

    The technical text (`str(exc)`: operation, HTTP status, Huawei's code and message, request id) is shown
    beside it, behind a disclosure; it has its keys redacted already (peerlinks.cloud.errors).
    """
    if isinstance(exc, cloud.CloudTimeout):
        return "Huawei Cloud did not answer in time."
    if isinstance(exc, cloud.CloudUnreachable):
        return "dcportal cannot reach Huawei Cloud (no connection to its API)."
    if isinstance(exc, cloud.AuthenticationFailed):
        return (
            "Huawei Cloud does not accept dcportal's credentials: "
            "an administrator needs to check its access keys."
        )
    if isinstance(exc, cloud.Forbidden):
        return (
            "Huawei Cloud refuses this to dcportal's account: "
            "an administrator needs to check its IAM permissions."
        )
    if isinstance(exc, cloud.Throttled):
        return "Huawei Cloud is limiting how often dcportal may ask; it tries again shortly."
    if isinstance(exc, cloud.ServerError):
        return "Huawei Cloud answered with a server error; dcportal tries again shortly."
    if isinstance(exc, cloud.InvalidResponse):
        return "Huawei Cloud answered something dcportal does not understand."
    if isinstance(exc, cloud.NotFound):
        return "Huawei Cloud does not know this resource (it may have been deleted)."
    if isinstance(exc, cloud.Conflict):
        return "Huawei Cloud says the resource is busy (a change to it is still under way)."
    if isinstance(exc, cloud.CloudError) and exc.error_msg and exc.status and 400 <= exc.status < 500:
        return f"Huawei Cloud refused the request: {one_line(exc.error_msg)}"
    return "A call to Huawei Cloud failed."

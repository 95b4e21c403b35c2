"""One exception hierarchy for WeCom API failures; each carries the errcode that caused it."""

from __future__ import annotations


class WeComError(Exception):
    """A WeCom API call failed. `errcode` is WeCom's code, or None for transport failures."""

    retryable = False

    def __init__(self, errcode: int | None, errmsg: str, *, path: str = ""):
        self.errcode = errcode
        self.errmsg = errmsg
        self.path = path
        super().__init__(f"{path or 'WeCom'}: errcode={errcode} {errmsg}".strip())


class WeComCredentialError(WeComError):
    """The corp id or secret is wrong (40001, 40013, ...): fix configuration; never retried."""


class WeComTokenError(WeComError):
    """The access token was refused again right after a fresh one was fetched (40014/42001)."""

    retryable = True


class WeComRateLimited(WeComError):
    """WeCom's frequency or concurrency limit (45009/45033) persisted through backoff."""

    retryable = True


class WeComBusy(WeComError):
    """WeCom answered -1 (system busy) through every retry."""

    retryable = True


class WeComTransportError(WeComError):
    """Timeouts, refused connections or HTTP errors persisted through every retry."""

    retryable = True


class WeComInvalidRecipients(WeComError):
    """Every recipient was invalid (81013): sending again cannot help."""


class WeComRequestError(WeComError):
    """WeCom refused the request itself (bad parameter, duplicate task id, ...)."""


CREDENTIAL_ERRCODES = frozenset({40001, 40013, 40056, 40082})
TOKEN_ERRCODES = frozenset({40014, 42001})
RATE_ERRCODES = frozenset({45009, 45033})
BUSY_ERRCODE = -1
INVALID_RECIPIENTS_ERRCODE = 81013


def error_for(errcode: int, errmsg: str, path: str) -> WeComError:
    """The typed exception for a final (no longer retried) errcode."""
    if errcode in CREDENTIAL_ERRCODES:
        return WeComCredentialError(errcode, errmsg, path=path)
    if errcode in TOKEN_ERRCODES:
        return WeComTokenError(errcode, errmsg, path=path)
    if errcode in RATE_ERRCODES:
        return WeComRateLimited(errcode, errmsg, path=path)
    if errcode == BUSY_ERRCODE:
        return WeComBusy(errcode, errmsg, path=path)
    if errcode == INVALID_RECIPIENTS_ERRCODE:
        return WeComInvalidRecipients(errcode, errmsg, path=path)
    return WeComRequestError(errcode, errmsg, path=path)

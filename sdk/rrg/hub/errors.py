"""Errors talking to the Hub, as one line a user can act on.

:class:`hub_errors` wraps the calls to ``huggingface_hub``; network, authentication and HTTP
errors leave it as an :class:`~rrg.errors.RrgError` naming the action, the failure and the HTTP
status (plus the server's own one-line message). Request headers, where the token travels, are
never read, and the token is redacted from the message should a server ever echo it. Any other
exception is a bug and propagates unchanged.
"""

from __future__ import annotations

from types import TracebackType

from rrg.errors import RrgError


class HubError(RrgError):
    """Talking to the Hub failed."""


class hub_errors:
    """Turn the Hub's network, auth and HTTP errors into one :class:`RrgError` line (``error``, default :class:`HubError`).

    The message names the action, the exception type and the HTTP status, plus the server's own
    message when it sent one; the token, which lives in request headers, is never part of it.
    """

    def __init__(self, action: str, error: type[RrgError] = HubError) -> None:
        self.action = action
        self.error = error

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None or isinstance(exc, RrgError):
            return False
        described = describe_hub_error(exc)
        if described is None:
            return False
        message, hint = described
        raise self.error(redact_token(f"{self.action}: {message}"), hint=hint) from exc


def describe_hub_error(exc: BaseException) -> tuple[str, str] | None:
    """(message, hint) for the errors talking to the Hub can raise; None for anything else (a bug)."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    login_hint = "log in with `hf auth login` or set HF_TOKEN to a token with write access"
    if isinstance(exc, OfflineModeIsEnabled):
        return (
            "the Hub is not reachable in offline mode (HF_HUB_OFFLINE is set)",
            "unset HF_HUB_OFFLINE, or use --dry-run",
        )
    if isinstance(exc, GatedRepoError):
        return (
            "the repository is gated and this account has no access",
            "request access on the repository's page, then retry",
        )
    if isinstance(exc, RepositoryNotFoundError):
        return "repository not found, or no access to it (HTTP " + _status(exc) + ")", login_hint
    if isinstance(exc, RevisionNotFoundError):
        return "revision not found (HTTP " + _status(
            exc
        ) + ")", "check the branch, tag or commit name"
    if isinstance(exc, LocalEntryNotFoundError):
        return (
            "not in the local Hugging Face cache, and the Hub could not be reached",
            "connect to the network (and unset HF_HUB_OFFLINE), then retry",
        )
    if isinstance(exc, HfHubHTTPError):
        status = _status(exc)
        server = _first_line(getattr(exc, "server_message", None))
        detail = f"the Hub answered HTTP {status}" + (f" ({server})" if server else "")
        if status in ("401", "403"):
            return detail, login_hint
        return detail, "retry later; if it persists, check https://status.huggingface.co"
    if _is_connection_error(exc):
        return (
            f"cannot reach the Hub ({type(exc).__name__})",
            "check the network connection and retry",
        )
    return None


def _is_connection_error(exc: BaseException) -> bool:
    """Connection failures of the HTTP clients huggingface_hub may use (httpx2, httpx, requests)."""
    import importlib

    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    for module_name, names in (
        ("httpx2", ("TransportError",)),
        ("httpx", ("TransportError",)),
        ("requests", ("ConnectionError", "Timeout")),
    ):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if isinstance(exc, tuple(getattr(module, name) for name in names)):
            return True
    return False


def _status(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return str(code) if code is not None else "?"


def _first_line(text: str | None) -> str:
    if not text:
        return ""
    return text.strip().splitlines()[0][:200]


def redact_token(text: str) -> str:
    """``text`` with the Hub token, if one is configured, replaced by ``***``."""
    from huggingface_hub import get_token

    token = get_token()
    return text.replace(token, "***") if token else text

"""Where the PACS is and who we are to it: params give the address (or the variable naming it), the
environment gives the credentials, so nothing secret is ever in a committed file."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from medimg.config.pacs import PacsParams
from medimg.io.problems import InputError


class PacsError(InputError, RuntimeError):
    """The PACS cannot be reached, refused us, or answered what we cannot use."""


@dataclass(frozen=True)
class Server:
    url: str
    username: str | None
    password: str | None
    timeout_s: float

    def __repr__(self) -> str:  # never print the password
        return f"Server(url={self.url!r}, user={self.username!r})"


def server_from_params(pacs: PacsParams, url: str | None = None) -> Server:
    """The server ``url`` (a command-line override), else ``$<pacs.url_env>``, else ``pacs.url``;
    credentials from ``$<pacs.username_env>`` and ``$<pacs.password_env>`` (both or neither)."""
    address = url or os.environ.get(pacs.url_env) or pacs.url
    if not address:
        raise PacsError(
            f"no PACS address: set pacs.url in params.yaml, export {pacs.url_env}, or pass --url"
        )
    username, password = os.environ.get(pacs.username_env), os.environ.get(pacs.password_env)
    if bool(username) != bool(password):
        missing = pacs.password_env if username else pacs.username_env
        raise PacsError(f"PACS credentials: {missing} is not set (set both or neither)")
    return Server(address.rstrip("/"), username or None, password or None, pacs.timeout_s)


def connect(server: Server):
    """A DICOMweb client for ``server`` (basic authentication when credentials are set)."""
    from dicomweb_client import DICOMwebClient
    from dicomweb_client.session_utils import create_session, create_session_from_user_pass

    # the client logs every request's URL at DEBUG, and URLs hold study UIDs
    logging.getLogger("dicomweb_client").setLevel(logging.WARNING)
    session = (
        create_session_from_user_pass(server.username, server.password)
        if server.username
        else create_session()
    )
    return DICOMwebClient(server.url, session=session, timeout=server.timeout_s)


def describe_failure(exc: Exception) -> str:
    """A failure in words that name no study: HTTP errors keep their status, not their URL."""
    response = getattr(exc, "response", None)
    if response is not None and getattr(response, "status_code", None):
        reason = {401: "unauthorized: check the credentials", 403: "forbidden"}.get(
            response.status_code, response.reason or ""
        )
        return f"the PACS answered HTTP {response.status_code} {reason}".rstrip()
    return type(exc).__name__


def is_http_failure(exc: BaseException) -> bool:
    """Whether ``exc`` came from talking to the server (requests' errors are OSErrors too)."""
    import requests

    return isinstance(exc, requests.RequestException)

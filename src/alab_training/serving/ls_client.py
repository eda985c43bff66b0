"""Label Studio's API as the service uses it: a project's annotations, fetched with the service's token.

Label Studio 1.23 has two kinds of token. A legacy token (40 hex characters) is sent as ``Authorization: Token
…``. A personal access token is a JWT *refresh* token: it is exchanged at ``POST /api/token/refresh/`` for a
short-lived access token, sent as ``Authorization: Bearer …`` and exchanged again when Label Studio refuses it.
The token lives in this object only: never in a URL, a log line, an error message or a ``repr``.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from alab_training.errors import LabelStudioAPIError

__all__ = ["LabelStudioAPI", "token_kind"]

_LOG = logging.getLogger(__name__)
#: The refresh endpoint; Django answers a POST without the final slash with an error.
_REFRESH = "/api/token/refresh/"


def token_kind(token: str) -> str:
    """``"personal"`` for a personal access token (a JWT), else ``"legacy"``.

    A JWT is three base64url parts joined by dots, the first a JSON header naming its algorithm; a legacy token is
    one hex string.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return "legacy"
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except (ValueError, TypeError):
        return "legacy"
    return "personal" if isinstance(header, dict) and "alg" in header else "legacy"


class LabelStudioAPI:
    """A client for one Label Studio server.

    Args:
        url: the server's base URL (``http://127.0.0.1:8080``).
        token: a legacy token or a personal access token (see the module's docstring).
        timeout: seconds per call (an export of a large project takes a while).
    """

    def __init__(self, url: str, token: str, *, timeout: float = 300.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise LabelStudioAPIError(f"expected an http(s) URL, got {url!r}", path="/")
        if not isinstance(token, str) or not token.strip():
            raise LabelStudioAPIError("an API token is needed to read the project's annotations", path="/")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._token = token.strip()
        self.kind = token_kind(self._token)
        self._access: str | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LabelStudioAPI({self.url!r}, token=<{self.kind}, hidden>)"

    def export(self, project_id: int) -> list[dict[str, Any]]:
        """The project's tasks with their annotations (``GET /api/projects/{id}/export?exportType=JSON``).

        Only tasks with annotations come back (Label Studio's default); skipped annotations are marked
        ``was_cancelled`` and drafts listed apart, so :func:`~alab_training.load_project` leaves both out.

        Raises:
            LabelStudioAPIError: Label Studio cannot be reached, refuses the token, or answers something else
                than a list of tasks.
        """
        path = f"/api/projects/{int(project_id)}/export"
        answer = self._call("GET", path, query={"exportType": "JSON", "download_resources": "false"})
        if not isinstance(answer, list):
            raise LabelStudioAPIError(f"expected a list of tasks, got {type(answer).__name__}", path=path)
        return answer

    # -- internals -------------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, query: dict[str, str] | None = None) -> Any:
        try:
            return self._send(method, path, query, self._authorization())
        except urllib.error.HTTPError as exc:
            if exc.code == 401 and self.kind == "personal":
                # The access token expired: exchange the refresh token again, once.
                with self._lock:
                    self._access = None
                try:
                    return self._send(method, path, query, self._authorization())
                except urllib.error.HTTPError as again:
                    raise self._refused(again, path) from None
            raise self._refused(exc, path) from None

    def _send(self, method: str, path: str, query: dict[str, str] | None, authorization: str,
              body: dict[str, Any] | None = None) -> Any:
        url = self.url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Accept": "application/json", "Content-Type": "application/json", **(
                {"Authorization": authorization} if authorization else {})})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError:
            raise
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LabelStudioAPIError(f"cannot reach {self.url} ({reason})", path=path) from None
        try:
            return json.loads(raw)
        except ValueError:
            raise LabelStudioAPIError("the answer is not JSON", path=path) from None

    def _authorization(self) -> str:
        if self.kind == "legacy":
            return f"Token {self._token}"
        with self._lock:
            if self._access is None:
                try:
                    answer = self._send("POST", _REFRESH, None, "", body={"refresh": self._token})
                except urllib.error.HTTPError as exc:
                    raise self._refused(exc, _REFRESH) from None
                access = answer.get("access") if isinstance(answer, dict) else None
                if not isinstance(access, str) or not access:
                    raise LabelStudioAPIError("no access token in the answer", path=_REFRESH)
                self._access = access
                _LOG.info("exchanged the personal access token for an access token at %s", self.url)
            return f"Bearer {self._access}"

    def _refused(self, exc: urllib.error.HTTPError, path: str) -> LabelStudioAPIError:
        try:
            detail = exc.read(500).decode("utf-8", "replace")
        except OSError:
            detail = ""
        detail = " ".join(detail.replace(self._token, "<token>").split())[:200]
        what = "the token was refused" if exc.code in (401, 403) else "the call failed"
        return LabelStudioAPIError(f"{what} (HTTP {exc.code}){': ' + detail if detail else ''}", path=path,
                                   status=exc.code)

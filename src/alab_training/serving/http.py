"""The HTTP layer: the protocol's five endpoints, and ``GET /metrics`` for the host, on Starlette, served by
uvicorn (``pip install 'alab-training[serve]'``).

Thin on purpose: check HTTP basic auth, read the body (at most ``max_body`` bytes, parsed as JSON) or the query
string, call the :class:`~alab_training.serving.service.Service` handler, write its dict as JSON. A
:class:`~alab_training.errors.ProtocolError` becomes its status with ``{"error": "<one line>"}``; anything
else is logged with its traceback and answered 500 ``{"error": "internal error …"}`` — a caller never sees a
traceback. ``/predict`` runs on a small thread pool of its own (Spark blocks; the model server lets one batch
at a time into Spark), so a burst of predictions never keeps ``/health`` and ``/setup`` — which Label Studio
gives one and three seconds — waiting.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from alab_training.errors import MissingDependencyError, ProtocolError
from alab_training.serving.service import Service

try:
    import anyio
    import anyio.to_thread
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
except ImportError as exc:  # the serve extra is optional: the library works without it
    raise MissingDependencyError("the ML-backend service needs Starlette", package="starlette",
                                 extra="serve") from exc

__all__ = ["DEFAULT_MAX_BODY", "create_app", "run_server"]

_LOG = logging.getLogger(__name__)
#: A "Retrieve predictions" batch of a few thousand long tasks stays well under this.
DEFAULT_MAX_BODY = 64 * 2**20
#: Predictions waiting for Spark at once; more callers wait for a slot without holding the shared thread pool.
_PREDICT_SLOTS = 4


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _read_json(request: Request, limit: int) -> Any:
    """The body as JSON, ``None`` when empty.

    Raises:
        ProtocolError: 413 over ``limit`` bytes (told by ``Content-Length`` or counted), 400 if not JSON.
    """
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ProtocolError(413, f"the request body is larger than the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ProtocolError(413, f"the request body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ProtocolError(400, f"malformed JSON: {exc}") from None


def _query(request: Request) -> dict[str, Any]:
    """The query string as a dict: a parameter given once is its value, one given more often the list of its
    values, which the handler refuses rather than the layer picking one."""
    found: dict[str, Any] = {}
    for key in request.query_params.keys():
        values = request.query_params.getlist(key)
        found[key] = values[0] if len(values) == 1 else values
    return found


def _authorized(request: Request, credentials: tuple[str, str] | None) -> bool:
    if credentials is None:
        return True
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    # Both compared, always: how long a refusal takes tells nothing about which part was wrong.
    good_user = hmac.compare_digest(user.encode(), credentials[0].encode())
    good_password = hmac.compare_digest(password.encode(), credentials[1].encode())
    return good_user and good_password


def create_app(service: Service, *, basic_auth: tuple[str, str] | None = None,
               max_body: int = DEFAULT_MAX_BODY) -> Starlette:
    """The ASGI app of the protocol's endpoints, for a started ``service``.

    Args:
        service: the handlers (started and closed by the caller, e.g. :func:`run_server`).
        basic_auth: ``(user, password)`` every request must carry (Label Studio's "Basic Auth" backend
            setting); ``None`` = no authentication.
        max_body: the largest request body accepted, in bytes (larger ones get 413).
    """
    limiter: dict[str, Any] = {}

    def endpoint(handler: Callable[[Any], dict[str, Any]], *, body: bool, pool: str | None,
                 status: int = 200, query: bool = False) -> Callable[[Request], Any]:
        async def respond(request: Request) -> JSONResponse:
            if not _authorized(request, basic_auth):
                return _error(401, "authentication required", {"WWW-Authenticate": 'Basic realm="alab-training"'})
            try:
                if query:
                    payload: Any = _query(request)
                else:
                    payload = await _read_json(request, max_body) if body else None
                if pool is None:
                    answer = handler(payload)
                else:
                    answer = await anyio.to_thread.run_sync(handler, payload, limiter=limiter.get(pool))
            except ProtocolError as exc:
                _LOG.info("%s %s: %d %s", request.method, request.url.path, exc.status, exc.message)
                return _error(exc.status, exc.message)
            except Exception:
                _LOG.exception("%s %s failed", request.method, request.url.path)
                return _error(500, "internal error; the service's log has the details")
            return JSONResponse(answer, status_code=status)

        return respond

    async def not_routed(request: Request, exc: Exception) -> JSONResponse:
        if not _authorized(request, basic_auth):
            return _error(401, "authentication required", {"WWW-Authenticate": 'Basic realm="alab-training"'})
        code = getattr(exc, "status_code", 404)
        message = "no such endpoint" if code == 404 else f"{request.method} is not allowed here"
        return _error(code, f"{message}: {request.url.path}")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        limiter["predict"] = anyio.CapacityLimiter(_PREDICT_SLOTS)  # needs the running event loop
        yield

    health = endpoint(lambda _: service.health(), body=False, pool=None)
    routes = [
        Route("/", health, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/setup", endpoint(service.setup, body=True, pool="default"), methods=["POST"]),
        Route("/predict", endpoint(service.predict, body=True, pool="predict"), methods=["POST"]),
        Route("/webhook", endpoint(service.webhook, body=True, pool="default", status=201), methods=["POST"]),
        # Label Studio sends a JSON body with this GET (the project); a POST is accepted too.
        Route("/versions", endpoint(service.versions, body=True, pool="default"), methods=["GET", "POST"]),
        # Not Label Studio's: the served versions' scores for the host. It reads model cards, so off the loop.
        Route("/metrics", endpoint(service.metrics, body=False, query=True, pool="default"), methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: not_routed}, lifespan=lifespan)


def run_server(service: Service, *, host: str = "127.0.0.1", port: int = 9090,
               basic_auth: tuple[str, str] | None = None, max_body: int = DEFAULT_MAX_BODY) -> None:
    """Start ``service``, serve it with uvicorn until SIGINT or SIGTERM, then close it.

    Trainings still running at the end go on in their own processes; the next start picks them up.

    Raises:
        MissingDependencyError: uvicorn is not installed.
        RunnerError: another service uses the same root folder.
    """
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependencyError("the ML-backend service needs uvicorn", package="uvicorn",
                                     extra="serve") from exc
    app = create_app(service, basic_auth=basic_auth, max_body=max_body)
    # log_config=None: uvicorn's records go to the host's handlers (and their filters), not to its own.
    config = uvicorn.Config(app, host=host, port=port, log_config=None, lifespan="on", timeout_keep_alive=30,
                            server_header=False)
    service.start()
    try:
        _LOG.info("Label Studio ML backend listening on http://%s:%d", host, port)
        uvicorn.Server(config).run()
    finally:
        service.close()

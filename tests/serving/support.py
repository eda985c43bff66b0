"""Data and helpers shared by the service's tests: NCBI-disease sentences, Label Studio payloads, a fake Label
Studio API, a backend process."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.conftest import REPO

NCBI_EXPORT = REPO / "examples" / "ncbi_disease" / "export.json"
NER_CONFIG = (REPO / "examples" / "ncbi_disease" / "config.xml").read_text()
LEGACY_TOKEN = "0123456789abcdef0123456789abcdef01234567"
#: The basic auth the HTTP tests' service asks for, and headers with the right and a wrong password.
AUTH = ("label-studio", "s3cret-pass")
GOOD = {"Authorization": "Basic " + base64.b64encode(f"{AUTH[0]}:{AUTH[1]}".encode()).decode()}
BAD = {"Authorization": "Basic " + base64.b64encode(f"{AUTH[0]}:wrong".encode()).decode()}
#: A JWT-shaped personal access token (header {"alg": "HS256", "typ": "JWT"}).
PERSONAL_TOKEN = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsInVzZXJfaWQiOjF9."
                  "c2lnbmF0dXJlLW5vdC1jaGVja2Vk")


def ncbi_sentences(count: int, *, with_entities_first: int = 0) -> list[dict[str, Any]]:
    """``count`` NCBI-disease training sentences as ``{"text", "spans": [(start, end, label), …]}``.

    The first ``with_entities_first`` have at least one Disease span (something to learn); the others name a
    disease one of those names too, so that a model trained for two epochs on the first ones finds something in
    them. Spans come from the bundled export (its tasks are ten sentences joined by newlines).
    """
    sentences = []
    for task in json.loads(NCBI_EXPORT.read_text()):
        if task.get("tags"):
            continue
        text = task["data"]["text"]
        spans = [(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0])
                 for r in task["completions"][0]["result"]]
        offset = 0
        for line in text.split("\n"):
            end = offset + len(line)
            inside = [(s - offset, e - offset, label) for s, e, label in spans if s >= offset and e <= end]
            if len(line) < 400:
                sentences.append({"text": line, "spans": inside})
            offset = end + 1
    first = [s for s in sentences if s["spans"]][:with_entities_first]
    seen = {s["text"][a:b].lower() for s in first for a, b, _ in s["spans"]}
    rest = [s for s in sentences if s not in first
            and (not seen or any(s["text"][a:b].lower() in seen for a, b, _ in s["spans"]))]
    return (first + rest)[:count]


def ls_result(sentence: dict[str, Any]) -> list[dict[str, Any]]:
    """A sentence's gold spans as a Label Studio annotation result."""
    return [{"from_name": "label", "to_name": "text", "type": "labels",
             "value": {"start": s, "end": e, "text": sentence["text"][s:e], "labels": [label]}}
            for s, e, label in sentence["spans"]]


def ls_task(task_id: int, sentence: dict[str, Any], *, annotations: int = 1, cancelled: bool = False,
            draft: bool = False) -> dict[str, Any]:
    """A task as Label Studio's JSON export writes it (annotations with ids, ``was_cancelled``, drafts)."""
    annotation = {"id": task_id * 10, "completed_by": 1, "result": ls_result(sentence), "was_cancelled": cancelled,
                  "ground_truth": False, "created_at": "2026-12-01T22:12:51.633248Z",
                  "updated_at": "2026-12-01T22:12:51.633273Z", "task": task_id, "project": 1}
    task = {"id": task_id, "annotations": [annotation] if annotations else [], "drafts": [], "predictions": [],
            "data": {"text": sentence["text"]}, "meta": {}, "project": 1}
    if draft:
        task["drafts"] = [{"id": task_id * 100, "result": ls_result(sentence), "lead_time": 2.0}]
    return task


def project_payload(project_id: int = 1, *, title: str = "NCBI demo", config: str = NER_CONFIG) -> dict[str, Any]:
    """The ``project`` object of a webhook (the fields the service reads, and a few it does not)."""
    return {"id": project_id, "title": title, "label_config": config, "min_annotations_to_start_training": 0,
            "token": "project-share-token-not-an-api-key", "model_version": ""}


def webhook(action: str, project_id: int = 1, **project: Any) -> dict[str, Any]:
    """A webhook payload as Label Studio 1.23.2 sends it."""
    body: dict[str, Any] = {"action": action, "project": project_payload(project_id, **project)}
    if action != "START_TRAINING":
        body["annotation"] = {"id": 1, "result": [], "was_cancelled": False}
    return body


def setup_body(project_id: int = 1, config: str = NER_CONFIG) -> dict[str, Any]:
    """``POST /setup`` as Label Studio sends it."""
    return {"project": f"{project_id}.1796163170", "schema": config, "hostname": "http://127.0.0.1:1",
            "access_token": "setup-key-never-used-here", "extra_params": None}


class FakeLabelStudio:
    """Label Studio's export and token endpoints, on 127.0.0.1, checking the token like the real one.

    ``exports[project_id]`` is what the export answers; ``requests`` records ``(method, path, authorization)``;
    ``expire_access()`` makes the access tokens handed out so far invalid (a personal token must be exchanged
    again).
    """

    def __init__(self, *, legacy: str = LEGACY_TOKEN, personal: str = PERSONAL_TOKEN) -> None:
        self.legacy = legacy
        self.personal = personal
        self.exports: dict[int, list[dict[str, Any]]] = {}
        self.requests: list[tuple[str, str, str]] = []
        self.access_tokens: set[str] = set()
        self.issued = 0
        self.delay = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _answer(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                authorization = self.headers.get("Authorization", "")
                fake.requests.append(("GET", self.path, authorization))
                time.sleep(fake.delay)
                if not fake.authorized(authorization):
                    return self._answer(401, {"detail": "Invalid token."})
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) == 4 and parts[:2] == ["api", "projects"] and parts[3] == "export":
                    project_id = int(parts[2])
                    if project_id not in fake.exports:
                        return self._answer(404, {"detail": "Not found."})
                    return self._answer(200, fake.exports[project_id])
                return self._answer(404, {"detail": "Not found."})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(("POST", self.path, self.headers.get("Authorization", "")))
                if self.path == "/api/token/refresh/":
                    if body.get("refresh") != fake.personal:
                        return self._answer(401, {"detail": "Token is invalid or expired"})
                    fake.issued += 1
                    access = f"access-{fake.issued}"
                    fake.access_tokens.add(access)
                    return self._answer(200, {"access": access})
                return self._answer(404, {"detail": "Not found."})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def authorized(self, authorization: str) -> bool:
        scheme, _, value = authorization.partition(" ")
        return (scheme == "Token" and value == self.legacy) or (scheme == "Bearer" and value in self.access_tokens)

    def expire_access(self) -> None:
        self.access_tokens.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def eventually(condition: Callable[[], Any], timeout: float = 60.0, what: str = "the condition") -> Any:
    """Poll until ``condition()`` is truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not true within {timeout} s")
        time.sleep(0.1)


def http_json(method: str, url: str, body: Any = None, *, headers: dict[str, str] | None = None,
              raw: bytes | None = None, timeout: float = 120.0) -> tuple[int, Any]:
    """``(status, parsed JSON)`` of one request (errors included)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        text = exc.read()
        try:
            return exc.code, json.loads(text)
        except ValueError:
            return exc.code, text.decode("utf-8", "replace")


class Backend:
    """``python -m alab_training.serving`` as a real process, on 127.0.0.1."""

    def __init__(self, root: Path, port: int, arguments: list[str], env: dict[str, str], log: Path, *,
                 basic_auth: tuple[str, str] | None = None) -> None:
        self.root, self.port, self.arguments, self.env, self.log = root, port, arguments, env, log
        self.basic_auth = basic_auth
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url_with_credentials(self) -> str:
        """The URL to give Label Studio when basic auth is on: the webhook it derives from it carries them too
        (Label Studio sends its webhooks without the backend's basic-auth setting)."""
        if self.basic_auth is None:
            return self.url
        return f"http://{self.basic_auth[0]}:{self.basic_auth[1]}@127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        arguments = ["--basic-auth", self.basic_auth[0]] if self.basic_auth else []
        env = {**os.environ, **self.env}
        if self.basic_auth:
            env["ALAB_TRAINING_SERVE_PASSWORD"] = self.basic_auth[1]
        headers = {"Authorization": "Basic " + base64.b64encode(":".join(self.basic_auth).encode()).decode()} \
            if self.basic_auth else {}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "alab_training.serving", "--root", str(self.root), "--port", str(self.port),
                 *arguments, *self.arguments], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, start_new_session=True)

        def healthy() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"the backend exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                return http_json("GET", f"{self.url}/health", headers=headers, timeout=2)[0] == 200
            except OSError:
                return False

        eventually(healthy, timeout, "the backend answering /health")

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM, as a service manager stops it (trainings go on in their own process groups)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

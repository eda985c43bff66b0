"""A real Label Studio 1.23.2 for the end-to-end tests: install it, start it, stop it, drive it over HTTP.

    python tools/label_studio.py install            # once; idempotent (prints the path of its executable)
    python tools/label_studio.py start --port 8080 --data-dir /tmp/ls    # in the foreground, for a person

Label Studio cannot share our virtualenv (its ``label-studio-sdk`` needs ``numpy>=2.2``, our engine ``numpy<2``),
so it lives in a virtualenv of its own under the cache (``$ALAB_TRAINING_CACHE``, else
``$XDG_CACHE_HOME/alab-training``, else ``~/.cache/alab-training``): ``label-studio-1.23.2/venv``, made with the
machine's ``python3``. How it is started follows ``shared/docs/label-studio-ml-backend.md``. Standard library
only, so that any Python can run this file.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "VERSION",
    "LabelStudio",
    "LabelStudioClient",
    "LabelStudioError",
    "cache_root",
    "ensure_label_studio",
    "free_port",
    "start",
]

VERSION = "1.23.2"
HOST = "127.0.0.1"
#: Seconds to wait for ``/health``: the first start runs the migrations (55–85 s on 2 busy cores).
START_TIMEOUT = 300.0


class LabelStudioError(RuntimeError):
    """Label Studio could not be installed or started, or an API call failed (with its status and answer)."""

    def __init__(self, message: str, *, status: int | None = None, body: str = "") -> None:
        self.status = status
        self.body = body
        super().__init__(message + (f" — {body[:2000]}" if body else ""))


def cache_root() -> Path:
    """The project's cache folder, as the engine finds it (``alab_training.runtime.cache.cache_root``)."""
    explicit = os.environ.get("ALAB_TRAINING_CACHE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "alab-training"


def free_port() -> int:
    """A TCP port nobody listens on at the moment (on 127.0.0.1)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


# -- installing --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One installer at a time (two test runs, CI and a developer), across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _system_python() -> str:
    """The machine's ``python3`` (``$ALAB_TRAINING_LS_PYTHON`` overrides it)."""
    chosen = os.environ.get("ALAB_TRAINING_LS_PYTHON") or shutil.which("python3")
    if not chosen:
        raise LabelStudioError("no python3 on PATH to make Label Studio's virtualenv with")
    return chosen


def ensure_label_studio(cache_dir: str | os.PathLike[str] | None = None, *, quiet: bool = False) -> Path:
    """Install Label Studio into its own virtualenv under the cache once; return its ``label-studio`` executable.

    The virtualenv is built in a fresh folder beside the final one and only then put in place: ``venv`` is a
    symlink replaced atomically (a virtualenv's scripts name its absolute path, so the folder itself cannot be
    renamed once built). A stamp file written last marks a complete install; a file lock keeps two installers
    apart. A failed install leaves nothing in use.

    Args:
        cache_dir: the cache folder; default :func:`cache_root`.
        quiet: hide pip's output (it goes to ``install.log`` beside the virtualenv either way).

    Raises:
        LabelStudioError: the virtualenv or the install failed (with the end of pip's output).
    """
    home = Path(cache_dir) if cache_dir is not None else cache_root()
    base = home / f"label-studio-{VERSION}"
    link, stamp = base / "venv", base / "installed"
    with _locked(home / f".label-studio-{VERSION}.lock"):
        executable = link / "bin" / "label-studio"
        if stamp.is_file() and stamp.read_text().strip() == VERSION and executable.exists():
            return executable
        base.mkdir(parents=True, exist_ok=True)
        current = link.resolve() if link.is_symlink() else None
        for leftover in base.glob("venv-*"):  # an install killed half-way (under the lock: nobody else's)
            if leftover != current:
                shutil.rmtree(leftover, ignore_errors=True)
        build = base / f"venv-{uuid.uuid4().hex[:8]}"
        log = base / "install.log"
        try:
            _run([_system_python(), "-m", "venv", str(build)], log, quiet)
            pip = [str(build / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "install"]
            _run([*pip, "--upgrade", "pip"], log, quiet)
            _run([*pip, f"label-studio=={VERSION}"], log, quiet)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
        partial = base / f".venv-{uuid.uuid4().hex[:8]}"
        partial.symlink_to(build.name)
        os.replace(partial, link)
        if current is not None and current != build and current.parent == base:
            shutil.rmtree(current, ignore_errors=True)
        stamp.write_text(VERSION + "\n")
        return executable


def _run(command: list[str], log: Path, quiet: bool) -> None:
    with open(log, "a") as output:
        output.write(f"$ {' '.join(command)}\n")
        output.flush()
        if quiet:
            code = subprocess.call(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        else:
            with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL) as process:
                assert process.stdout is not None
                for line in process.stdout:
                    output.write(line.decode("utf-8", "replace"))
                    sys.stderr.buffer.write(line)
                code = process.wait()
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise LabelStudioError(f"{' '.join(command[:4])}… failed with exit code {code}", body=tail)


# -- starting ----------------------------------------------------------------------------------------------------


def _listening_pids(port: int) -> set[int]:
    """Process ids listening on a TCP port of this machine (from /proc: no ``ss``/``lsof`` needed)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as handle:
            for line in list(handle)[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(fields[9])
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    pids.add(int(entry.name))
                    break
    return pids


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


class LabelStudio:
    """A running Label Studio server (started by :func:`start`): its URL, token, user and process."""

    def __init__(self, process: subprocess.Popen, port: int, data_dir: Path, token: str, username: str,
                 password: str, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.data_dir = data_dir
        self.token = token
        self.username = username
        self.password = password
        self.log_path = log_path

    @property
    def url(self) -> str:
        """The server's base URL (``http://127.0.0.1:PORT``)."""
        return f"http://{HOST}:{self.port}"

    def client(self) -> LabelStudioClient:
        """An API client authenticated with the user's legacy token."""
        return LabelStudioClient(self.url, self.token)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's output, for failure messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server and everything it started (it leads its own process group)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError):  # anything the server forked and left behind
            os.killpg(self.process.pid, signal.SIGKILL)


def environment(port: int, data_dir: Path, token: str, username: str, password: str) -> dict[str, str]:
    """The variables Label Studio 1.23.2 needs to start unattended and to call a backend on 127.0.0.1."""
    return {
        **os.environ,
        "LABEL_STUDIO_USERNAME": username, "LABEL_STUDIO_PASSWORD": password, "LABEL_STUDIO_USER_TOKEN": token,
        # Legacy `Token` auth exists only if enabled when the organisation is created (the first start).
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        # Both are needed for a backend on a loopback address: with only the first, the backend is created but
        # its webhook is not and the API answers 403 "reserved network address".
        "ML_BLOCK_LOCAL_IP": "false", "SSRF_PROTECTION_ENABLED": "false",
        "LABEL_STUDIO_HOST": f"http://{HOST}:{port}",
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),  # nothing of it outside the data folder
        "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "", "COLLECT_ANALYTICS": "false", "LATEST_VERSION_CHECK": "false",
        "PYTHONUNBUFFERED": "1",
    }


def start(port: int, data_dir: str | os.PathLike[str], *, executable: str | os.PathLike[str] | None = None,
          token: str | None = None, username: str = "admin@example.com", password: str | None = None,
          timeout: float = START_TIMEOUT) -> LabelStudio:
    """Start Label Studio on ``127.0.0.1:port`` with a sqlite database in ``data_dir``; return once it is ready.

    Ready means ``GET /health`` answers ``{"status": "UP"}`` **and** the process listening on the port is ours:
    Label Studio silently takes the next port when the one asked for is busy, and another server on the port
    would answer the health check too.

    Args:
        port: the port to bind (``free_port()``).
        data_dir: its data folder (database, uploads, exports); created if missing. Restarting on the same folder
            keeps projects and the user.
        executable: the ``label-studio`` script; default :func:`ensure_label_studio` (installs if needed).
        token: the user's legacy API token (40 characters); default a random one. Only the first start on a data
            folder sets it.
        username, password: the user created on the first start.
        timeout: seconds to wait for readiness.

    Raises:
        LabelStudioError: the process exited, or it did not become ready on that port in time (with its output).
    """
    data = Path(data_dir).absolute()
    data.mkdir(parents=True, exist_ok=True)
    token = token or secrets.token_hex(20)
    password = password or secrets.token_urlsafe(12)
    executable = Path(executable) if executable is not None else ensure_label_studio()
    log_path = data / "label-studio.log"
    command = [str(executable), "start", "--no-browser", "--internal-host", HOST, "--port", str(port),
               "--data-dir", str(data)]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=environment(port, data, token, username, password), cwd=data,
                                   start_new_session=True)
    server = LabelStudio(process, port, data, token, username, password, log_path)
    try:
        _wait_ready(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_ready(server: LabelStudio, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise LabelStudioError(f"Label Studio exited with code {server.process.returncode} while starting",
                                   body=server.log_tail())
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=5) as answer:
                healthy = json.load(answer).get("status") == "UP"
        except (OSError, ValueError):
            healthy = False
        if healthy:
            owners = {_group_of(pid) for pid in _listening_pids(server.port)}
            if server.process.pid in owners:
                return
            raise LabelStudioError(f"port {server.port} answers, but not from our Label Studio (it may have "
                                   f"moved to another port)", body=server.log_tail())
        if time.monotonic() > deadline:
            raise LabelStudioError(f"Label Studio not ready on port {server.port} after {timeout:.0f} s",
                                   body=server.log_tail())
        time.sleep(1)


# -- the API -----------------------------------------------------------------------------------------------------


class LabelStudioClient:
    """The few Label Studio API calls the end-to-end tests make (``Authorization: Token …``)."""

    def __init__(self, url: str, token: str, *, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None, *, query: dict[str, Any] | None = None) -> Any:
        """Call the API; the parsed JSON answer (``None`` for an empty one).

        Raises:
            LabelStudioError: a status of 400 or more (with the answer's text).
        """
        url = self.url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Token {self.token}", "Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as exc:
            raise LabelStudioError(f"{method} {path}: HTTP {exc.code}", status=exc.code,
                                   body=exc.read().decode("utf-8", "replace")) from None
        return json.loads(raw) if raw.strip() else None

    def create_project(self, title: str, label_config: str, **options: Any) -> dict[str, Any]:
        """``POST /api/projects/``: a project with this labeling config (options such as
        ``min_annotations_to_start_training``)."""
        return self.request("POST", "/api/projects/", {"title": title, "label_config": label_config, **options})

    def update_project(self, project_id: int, **fields: Any) -> dict[str, Any]:
        """``PATCH /api/projects/{id}/`` (e.g. ``min_annotations_to_start_training=10``)."""
        return self.request("PATCH", f"/api/projects/{project_id}/", fields)

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> dict[str, Any]:
        """``POST /api/projects/{id}/import`` (synchronous for a small JSON list)."""
        return self.request("POST", f"/api/projects/{project_id}/import", tasks)

    def tasks(self, project_id: int) -> list[dict[str, Any]]:
        """Every task of the project, in id order (``GET /api/tasks/``, all pages)."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            try:
                answer = self.request("GET", "/api/tasks/", query={"project": project_id, "page": page,
                                                                   "page_size": 100})
            except LabelStudioError as exc:
                if exc.status == 404:  # past the last page
                    break
                raise
            batch = answer["tasks"] if isinstance(answer, dict) else answer
            found += batch
            if len(batch) < 100:
                break
            page += 1
        return sorted(found, key=lambda task: task["id"])

    def connect_backend(self, project_id: int, url: str, *, title: str = "alab-training",
                        basic_auth: tuple[str, str] | None = None, **options: Any) -> dict[str, Any]:
        """``POST /api/ml/``: connect an ML backend (Label Studio calls its ``/health`` and ``/setup`` now)."""
        body: dict[str, Any] = {"url": url, "project": project_id, "title": title, **options}
        if basic_auth is not None:
            body.update(auth_method="BASIC_AUTH", basic_auth_user=basic_auth[0], basic_auth_pass=basic_auth[1])
        return self.request("POST", "/api/ml/", body)

    def backend(self, backend_id: int) -> dict[str, Any]:
        """``GET /api/ml/{id}`` (its state and the ``model_version`` its ``/setup`` reported)."""
        return self.request("GET", f"/api/ml/{backend_id}")

    def start_training(self, backend_id: int) -> Any:
        """``POST /api/ml/{id}/train``: the "Start training" button (a ``START_TRAINING`` webhook)."""
        return self.request("POST", f"/api/ml/{backend_id}/train", {})

    def create_annotation(self, task_id: int, result: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        """``POST /api/tasks/{id}/annotations/``: a submitted annotation (``was_cancelled=True`` skips)."""
        return self.request("POST", f"/api/tasks/{task_id}/annotations/", {"result": result, **fields})

    def update_annotation(self, annotation_id: int, result: list[dict[str, Any]]) -> dict[str, Any]:
        """``PATCH /api/annotations/{id}/``."""
        return self.request("PATCH", f"/api/annotations/{annotation_id}/", {"result": result})

    def create_draft(self, task_id: int, result: list[dict[str, Any]]) -> dict[str, Any]:
        """``POST /api/tasks/{id}/drafts``: a draft, which must never be trained on."""
        return self.request("POST", f"/api/tasks/{task_id}/drafts", {"result": result, "lead_time": 1.0})

    def retrieve_predictions(self, project_id: int, task_ids: list[int]) -> Any:
        """The Data Manager's "Retrieve predictions" action on these tasks (one ``/predict`` batch)."""
        return self.request("POST", "/api/dm/actions/",
                            {"selectedItems": {"all": False, "included": list(task_ids)}},
                            query={"id": "retrieve_tasks_predictions", "project": project_id})

    def predictions(self, project_id: int) -> list[dict[str, Any]]:
        """``GET /api/predictions/?project=…``: every prediction stored for the project."""
        answer = self.request("GET", "/api/predictions/", query={"project": project_id})
        return answer["results"] if isinstance(answer, dict) and "results" in answer else answer

    def export(self, project_id: int) -> list[dict[str, Any]]:
        """``GET /api/projects/{id}/export?exportType=JSON`` (predictions as ids only)."""
        return self.request("GET", f"/api/projects/{project_id}/export", query={"exportType": "JSON"})

    def snapshot(self, project_id: int, timeout: float = 120.0) -> list[dict[str, Any]]:
        """A snapshot export with full predictions (``POST /api/projects/{id}/exports/``, then its download)."""
        created = self.request("POST", f"/api/projects/{project_id}/exports/", {
            "title": f"snapshot-{uuid.uuid4().hex[:6]}",
            "serialization_options": {"predictions": {"only_id": False}, "drafts": {"only_id": False}}})
        export_id = created["id"]
        deadline = time.monotonic() + timeout
        while True:
            status = self.request("GET", f"/api/projects/{project_id}/exports/{export_id}")["status"]
            if status == "completed":
                break
            if status == "failed" or time.monotonic() > deadline:
                raise LabelStudioError(f"snapshot export {export_id} ended {status!r}")
            time.sleep(0.5)
        return self.request("GET", f"/api/projects/{project_id}/exports/{export_id}/download",
                            query={"exportType": "JSON"})


# -- the command line --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``install`` (idempotent) or ``start`` (in the foreground until Ctrl-C)."""
    parser = argparse.ArgumentParser(prog="tools/label_studio.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser("install", help=f"install Label Studio {VERSION} into its own virtualenv")
    install.add_argument("--cache", type=Path, default=None, help="cache folder (default: the project's cache)")
    install.add_argument("--quiet", action="store_true", help="pip's output only into install.log")
    run = commands.add_parser("start", help="start it (installs first if needed) and wait for Ctrl-C")
    run.add_argument("--port", type=int, default=8080)
    run.add_argument("--data-dir", type=Path, required=True)
    run.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args(argv)
    started = time.monotonic()
    executable = ensure_label_studio(args.cache, quiet=getattr(args, "quiet", False))
    if args.command == "install":
        print(f"{executable} (ready after {time.monotonic() - started:.0f} s)")
        return 0
    server = start(args.port, args.data_dir, executable=executable)
    print(f"Label Studio at {server.url} (user {server.username}, password {server.password}, token "
          f"{server.token}); Ctrl-C stops it")
    try:
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The HTTP layer on a real uvicorn server (in a thread, on a free 127.0.0.1 port), and the command's checks."""

from __future__ import annotations

import argparse
import http.client
import io
import logging

import pytest

from alab_training.errors import AlabTrainingError, ParamsError
from alab_training.serving.command import RedactSecrets, add_serve_command, is_loopback, run, training_params
from tests.serving.support import BAD, GOOD, LEGACY_TOKEN, http_json, setup_body, webhook


def test_every_endpoint_answers_json(served):
    url, _ = served
    assert http_json("GET", f"{url}/health", headers=GOOD) == (200, {"status": "UP", "model_class": "alab-training",
                                                                     "projects": 0, "served": 0})
    assert http_json("POST", f"{url}/setup", setup_body(), headers=GOOD) == (200, {"model_version": "untrained"})
    # Label Studio sends a body with this GET.
    assert http_json("GET", f"{url}/versions", {"project": "1.17"}, headers=GOOD) == (200, {"versions": []})
    assert http_json("GET", f"{url}/versions", headers=GOOD) == (200, {"versions": []})
    status, answer = http_json("POST", f"{url}/predict", {"project": "1.17", "tasks": [
        {"id": 1, "data": {"text": "Fever."}}], "label_config": setup_body()["schema"]}, headers=GOOD)
    assert (status, answer) == (200, {"results": []})
    status, answer = http_json("POST", f"{url}/webhook", webhook("TASKS_CREATED"), headers=GOOD)
    assert (status, answer) == (201, {"status": "ok", "action": "TASKS_CREATED", "queued": False})


@pytest.mark.parametrize("method, path, body, headers, status, error", [
    ("GET", "/health", None, {}, 401, "authentication required"),
    ("POST", "/setup", setup_body(), BAD, 401, "authentication required"),
    ("GET", "/nowhere", None, {}, 401, "authentication required"),  # who may not call learns nothing
    ("GET", "/nowhere", None, GOOD, 404, "no such endpoint: /nowhere"),
    ("GET", "/setup", None, GOOD, 405, "GET is not allowed here: /setup"),
    ("POST", "/setup", b"{not json", GOOD, 400, "malformed JSON: Expecting property name"),
    ("POST", "/setup", b"\xff\xfe\x00", GOOD, 400, "malformed JSON"),
    ("POST", "/setup", b"[" * 2500 + b"]" * 2500, GOOD, 413, "larger than the limit of 4096 bytes"),
    ("POST", "/webhook", b'{"action": "NOPE", "project": {}}', GOOD, 400, "unknown action 'NOPE'"),
    ("POST", "/predict", b'{"project": "5.1", "tasks": []}', GOOD, 404, "unknown project 5"),
])
def test_faults_are_one_line_json_errors(served, method, path, body, headers, status, error):
    url, _ = served
    raw = body if isinstance(body, bytes) else None
    got, answer = http_json(method, url + path, body if raw is None else None, raw=raw, headers=headers)
    assert got == status
    assert isinstance(answer, dict) and list(answer) == ["error"] and error in answer["error"]
    assert "\n" not in answer["error"]


def test_a_body_over_the_limit_is_refused_even_without_a_length(served):
    url, _ = served
    connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=20)
    connection.request("POST", "/setup", body=iter([b"x" * 3000, b"y" * 3000]), encode_chunked=True,
                       headers={**GOOD, "Transfer-Encoding": "chunked", "Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 413 and b"larger than the limit" in response.read()
    connection.close()


def test_an_unexpected_fault_is_a_500_without_traceback_and_is_logged(served, monkeypatch, caplog):
    url, service = served

    def broken(body):
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(service.store, "update", lambda *a, **k: broken(None))  # deep inside the webhook
    status, answer = http_json("POST", f"{url}/webhook", webhook("START_TRAINING"), headers=GOOD)
    assert status == 500 and answer == {"error": "internal error; the service's log has the details"}
    assert "the disk caught fire" in caplog.text and "Traceback" in caplog.text
    assert http_json("GET", f"{url}/health", headers=GOOD)[0] == 200  # and it goes on serving


# -- the command ----------------------------------------------------------------------------------------------


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_serve_command(parser.add_subparsers(dest="command"))
    return parser.parse_args(["serve", *argv])


def test_binding_beyond_this_machine_needs_basic_auth(tmp_path, monkeypatch):
    monkeypatch.delenv("ALAB_TRAINING_SERVE_PASSWORD", raising=False)
    with pytest.raises(AlabTrainingError, match="--basic-auth USER"):
        run(_args("--root", str(tmp_path / "r"), "--host", "0.0.0.0"), io.StringIO())
    with pytest.raises(AlabTrainingError, match="ALAB_TRAINING_SERVE_PASSWORD"):
        run(_args("--root", str(tmp_path / "r"), "--host", "0.0.0.0", "--basic-auth", "ls"), io.StringIO())
    assert not (tmp_path / "r").exists()  # refused before anything is written
    assert [is_loopback(h) for h in ("127.0.0.1", "127.8.0.2", "::1", "localhost", "0.0.0.0", "10.0.0.1")] == [
        True, True, True, True, False, False]


def test_the_command_builds_the_training_parameters(tmp_path):
    args = _args("--root", str(tmp_path), "--type", "ner", "--epochs", "2", "--params", '{"learning_rate": 0.01}')
    assert args.run is run and args.deploy is True and args.host == "127.0.0.1" and args.port == 9090
    params = training_params(args)
    assert (params.training_type, params.epochs, params.learning_rate) == ("ner", 2, 0.01)
    assert _args("--root", "x", "--no-deploy").deploy is False
    with pytest.raises(ParamsError, match="unknown parameter"):
        training_params(_args("--root", "x", "--params", '{"epoch": 3}'))
    with pytest.raises(ParamsError):
        training_params(_args("--root", "x", "--epochs", "0"))


def test_secrets_are_hidden_even_if_something_logged_them(caplog):
    logger = logging.getLogger("tests.serving.redact")
    handler = logging.StreamHandler(stream := io.StringIO())
    handler.addFilter(RedactSecrets([LEGACY_TOKEN, "s3cret-pass"]))
    logger.addHandler(handler)
    try:
        logger.error("calling with %s", LEGACY_TOKEN)
        try:
            raise ValueError("bad password s3cret-pass")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert LEGACY_TOKEN not in text and "s3cret-pass" not in text and text.count("<hidden>") >= 2

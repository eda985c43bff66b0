"""The protocol's handlers without Label Studio or HTTP: dicts in, dicts out, on a real job runner.

Trainings are the example gazetteer (seconds, no Spark) and its gated variant (held until a test opens its gate);
models are "loaded" and "predict" through counting stand-ins, so a test can tell that ``/setup`` and ``/health``
never reach them.
"""

from __future__ import annotations

import logging
import threading

import pytest

from alab_training import JobStatus, ModelRegistry
from alab_training.serving import ModelServer, ProtocolError, Service, Work, WorkQueue, protocol
from tests.serving.conftest import GATED
from tests.serving.support import (
    LEGACY_TOKEN,
    PERSONAL_TOKEN,
    eventually,
    ls_task,
    ncbi_sentences,
    setup_body,
    webhook,
)

SENTENCES = ncbi_sentences(12, with_entities_first=12)
NAME = "NCBI_demo"  # the webhook payloads' title, made safe


def _export(count: int, **options) -> list[dict]:
    return [ls_task(i + 1, SENTENCES[i], **options) for i in range(count)]


def _finished(service: Service, count: int, timeout: float = 120.0) -> list:
    """Wait until the project has ``count`` jobs, all finished; they come newest first."""
    def done():
        jobs = service.runner.jobs(NAME)
        return jobs if len(jobs) == count and all(job.status.finished for job in jobs) else None
    return eventually(done, timeout, f"{count} finished jobs")


def _served(service: Service, timeout: float = 60.0) -> str:
    return eventually(lambda: (v := service.setup(setup_body())["model_version"]) != "untrained" and v, timeout,
                      "a served model")


# -- malformed and unknown input --------------------------------------------------------------------------------

CONFIG = setup_body()["schema"]
TEXT_ONLY = '<View><Text name="text" value="$text"/></View>'


@pytest.mark.parametrize("handler, body, status, words", [
    ("setup", [], 400, "must be a JSON object"),
    ("setup", None, 400, "must be a JSON object"),
    ("setup", {"schema": CONFIG}, 400, "project"),
    ("setup", {"project": "abc.1", "schema": CONFIG}, 400, "project id"),
    ("setup", {"project": True, "schema": CONFIG}, 400, "project id"),
    ("setup", {"project": "1.1", "schema": 5}, 400, "schema"),
    ("setup", {"project": "1.1", "schema": "<View><Text"}, 422, "not usable"),
    ("setup", {"project": "1.1", "schema": TEXT_ONLY}, 422, "nothing alab-training can train"),
    ("predict", {"project": "99.1", "tasks": []}, 404, "unknown project 99"),
    ("predict", {"project": "1.1", "tasks": {"id": 1}}, 400, "tasks: expected a list"),
    ("predict", {"project": "1.1", "tasks": ["text"]}, 400, "tasks[0] must be a JSON object"),
    ("predict", {"project": "1.1", "tasks": [{"id": 1, "data": {}}]}, 400, "tasks[0].data.text"),
    ("predict", {"project": "1.1", "tasks": [{"id": 1, "data": {"text": 3}}]}, 400, "tasks[0].data.text"),
    ("predict", {"project": "1.1", "tasks": [{"data": {"text": "x"}}]}, 400, "tasks[0].id"),
    ("webhook", {"project": {}}, 400, "action"),
    ("webhook", {"action": "ANNOTATION_EXPLODED", "project": {}}, 400, "unknown action 'ANNOTATION_EXPLODED'"),
    ("webhook", {"action": "START_TRAINING"}, 400, "project must be a JSON object"),
    ("webhook", {"action": "START_TRAINING", "project": {"id": 1}}, 400, "project.label_config"),
    ("webhook", {"action": "START_TRAINING", "project": {"id": "x", "label_config": CONFIG}}, 400, "project.id"),
    ("versions", {"project": ["1"]}, 400, "project id"),
])
def test_malformed_or_unknown_input_is_a_one_line_4xx(make_service, handler, body, status, words):
    service = make_service()
    service.setup(setup_body())
    with pytest.raises(ProtocolError) as caught:
        getattr(service, handler)(body)
    assert caught.value.status == status and 400 <= status < 500
    assert words in caught.value.message and "\n" not in caught.value.message


def test_other_label_studio_actions_are_answered_and_ignored(make_service, fake_ls):
    service = make_service(every=1)
    fake_ls.exports[1] = _export(3)
    for action in ("TASKS_CREATED", "PROJECT_UPDATED", "LABEL_LINK_CREATED"):
        assert service.webhook(webhook(action)) == {"status": "ok", "action": action, "queued": False}
    assert service.webhook({"action": "PROJECT_DELETED"})["queued"] is False  # Label Studio sends no project
    assert service.work.join(10) and service.runner.jobs() == []


# -- answers from memory ----------------------------------------------------------------------------------------


def test_setup_health_and_versions_answer_from_memory(make_service, fake_models, tmp_path):
    service = make_service()
    assert service.health() == {"status": "UP", "model_class": "alab-training", "projects": 0, "served": 0}
    assert service.setup(setup_body()) == {"model_version": "untrained"}
    state = tmp_path / "root" / "serving" / "projects" / "1.json"
    written = state.stat().st_mtime_ns
    for _ in range(50):  # Label Studio calls these all the time
        service.setup(setup_body())
        service.health()
        service.versions({"project": "1.1796163170"})
    assert state.stat().st_mtime_ns == written  # nothing rewritten when nothing changed
    assert service.versions() == {"versions": []}
    assert fake_models.loads == [] and fake_models.predictions == 0  # never the models, never Spark


def test_predict_without_a_model_answers_no_results(make_service, fake_models):
    service = make_service()
    service.setup(setup_body())
    tasks = [{"id": 7, "data": {"text": "Fever."}}, {"id": 8, "data": {"text": "Cough."}}]
    # Label Studio stores nothing for an empty list (one result per task would store empty predictions).
    assert service.predict({"project": "1.1796163170", "tasks": tasks}) == {"results": []}
    assert fake_models.predictions == 0


# -- training, serving, coalescing ------------------------------------------------------------------------------


def test_start_training_trains_then_serves_the_new_model(make_service, fake_ls, tmp_path):
    service = make_service()
    fake_ls.exports[1] = _export(5) + [ls_task(6, SENTENCES[5], cancelled=True), ls_task(7, SENTENCES[6],
                                                                                       annotations=0, draft=True)]
    service.setup(setup_body())
    assert service.webhook(webhook("START_TRAINING")) == {"status": "ok", "action": "START_TRAINING",
                                                          "queued": True}
    (job,) = _finished(service, 1)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.trigger == "manual" and job.progress.train_examples == 5  # the skipped and the draft left out
    version = _served(service)
    assert version == job.result.models[0].name and version.endswith("_v1")
    assert service.versions() == {"versions": [version]}
    text = SENTENCES[0]["text"]
    answer = service.predict({"project": "1.1", "tasks": [{"id": 1, "data": {"text": text}},
                                                          {"id": 2, "data": {"text": "nothing here"}}]})
    first, second = answer["results"]
    assert first["model_version"] == second["model_version"] == version
    assert first["result"] and all(item["score"] == item["value"]["confidence"] == 0.75 for item in first["result"])
    assert first["score"] == 0.75 and second == {"result": [], "score": 0.0, "model_version": version}
    (model,) = ModelRegistry(tmp_path / "root" / "models").list()
    assert (model.name, model.trigger, model.project) == (version, "manual", NAME)


def test_triggers_coalesce_and_unchanged_annotations_do_not_train_again(make_service, fake_ls, gates):
    service = make_service(params=GATED)
    fake_ls.exports[1] = _export(4)
    service.webhook(webhook("START_TRAINING"))
    eventually(lambda: [j for j in service.runner.jobs(NAME) if j.status is JobStatus.RUNNING], 60, "a running job")
    fake_ls.exports[1] = _export(5)
    service.webhook(webhook("START_TRAINING"))  # new annotations while one trains: queued behind it
    assert service.work.join(30)
    fake_ls.exports[1] = _export(6)
    threads = [threading.Thread(target=service.webhook, args=(webhook("START_TRAINING"),)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert service.work.join(30)
    statuses = sorted(job.status.value for job in service.runner.jobs(NAME))
    assert statuses == ["queued", "running"]  # the later triggers joined the queued training
    gates.open(NAME)
    _finished(service, 2)
    service.webhook(webhook("START_TRAINING"))  # annotations 1-6 were never trained on: one more
    _finished(service, 3)
    for _ in range(3):  # Label Studio's "every N" sends START_TRAINING again when an annotation is re-saved
        service.webhook(webhook("START_TRAINING"))
    assert service.work.join(30)
    jobs = _finished(service, 3)
    assert all(job.status is JobStatus.SUCCEEDED for job in jobs)
    assert [job.progress.train_examples for job in reversed(jobs)] == [4, 5, 6]


def test_active_learning_trains_once_per_n_even_across_a_restart(make_service, fake_ls):
    service = make_service(every=3)
    fake_ls.exports[1] = _export(2) + [ls_task(3, SENTENCES[2], cancelled=True),
                                       ls_task(4, SENTENCES[3], annotations=0, draft=True)]
    service.webhook(webhook("ANNOTATION_CREATED"))
    assert service.work.join(30) and service.runner.jobs() == []  # 2 submitted: a skip and a draft do not count
    fake_ls.exports[1] = _export(3)
    threads = [threading.Thread(target=service.webhook, args=(webhook(action),))
               for action in ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATION_UPDATED", "ANNOTATIONS_CREATED")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (job,) = _finished(service, 1)
    assert job.trigger == "active_learning" and job.status is JobStatus.SUCCEEDED
    _served(service)
    service.webhook(webhook("START_TRAINING"))  # the button on the annotations active learning just trained on
    assert service.work.join(30) and len(service.runner.jobs()) == 1
    service.close()

    again = make_service(every=3)  # a restart on the same root
    assert again.setup(setup_body())["model_version"] == job.result.models[0].name
    for action in ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED"):
        again.webhook(webhook(action))
    assert again.work.join(30) and len(again.runner.jobs(NAME)) == 1  # nothing new since the last count
    fake_ls.exports[1] = _export(6)
    again.webhook(webhook("ANNOTATION_CREATED"))
    jobs = _finished(again, 2)
    assert [j.trigger for j in jobs] == ["active_learning", "active_learning"]


def test_a_restart_serves_the_last_deployed_model_before_anything_trains(make_service, fake_ls, fake_models):
    service = make_service()
    fake_ls.exports[1] = _export(4)
    service.webhook(webhook("START_TRAINING"))
    _finished(service, 1)
    version = _served(service)
    service.close()
    loads = len(fake_models.loads)

    again = make_service()
    assert again.setup(setup_body()) == {"model_version": version}  # at once: from the saved state
    answer = again.predict({"project": "1.1", "tasks": [{"id": 1, "data": {"text": SENTENCES[0]["text"]}}]})
    assert answer["results"][0]["model_version"] == version and answer["results"][0]["result"]
    assert [path.name for path in fake_models.loads[loads:]] == [version]
    assert len(again.runner.jobs()) == 1


def test_a_training_that_fails_leaves_the_service_and_the_served_model_alone(make_service, fake_ls, gates):
    service = make_service(params=GATED)
    fake_ls.exports[1] = _export(4)
    gates.open(NAME)
    service.webhook(webhook("START_TRAINING"))
    _finished(service, 1)
    version = _served(service)
    gates.crash(NAME)  # the next training's process is killed with SIGKILL, as the OOM killer would
    fake_ls.exports[1] = _export(5)
    service.webhook(webhook("START_TRAINING"))
    newest = _finished(service, 2)[0]
    assert newest.status is JobStatus.FAILED and "SIGKILL" in newest.error
    assert service.health()["status"] == "UP" and service.setup(setup_body())["model_version"] == version
    assert service.predict({"project": "1.1", "tasks": [{"id": 1, "data": {"text": "x"}}]})["results"]


# -- the token ----------------------------------------------------------------------------------------------------


def test_a_personal_access_token_is_exchanged_and_exchanged_again_when_refused(make_service, fake_ls, caplog):
    caplog.set_level(logging.DEBUG)
    service = make_service(token=PERSONAL_TOKEN)
    fake_ls.exports[1] = _export(3)
    service.webhook(webhook("START_TRAINING"))
    _finished(service, 1)
    fake_ls.expire_access()
    fake_ls.exports[1] = _export(4)
    service.webhook(webhook("START_TRAINING"))
    _finished(service, 2)
    calls = [(method, path.split("?")[0], auth) for method, path, auth in fake_ls.requests]
    assert calls == [("POST", "/api/token/refresh/", ""), ("GET", "/api/projects/1/export", "Bearer access-1"),
                     ("GET", "/api/projects/1/export", "Bearer access-1"),  # refused: expired
                     ("POST", "/api/token/refresh/", ""), ("GET", "/api/projects/1/export", "Bearer access-2")]
    assert PERSONAL_TOKEN not in caplog.text


def test_the_token_is_never_logged_nor_written(make_service, fake_ls, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    service = make_service()
    fake_ls.exports[1] = _export(3)
    service.webhook(webhook("START_TRAINING"))
    _finished(service, 1)
    _served(service)
    service.close()
    refused = make_service(token=LEGACY_TOKEN[::-1])  # a wrong token: its refusal is logged, the token is not
    fake_ls.exports[1] = _export(4)
    refused.webhook(webhook("START_TRAINING"))
    assert refused.work.join(30)
    assert "the token was refused (HTTP 401)" in caplog.text
    for secret in (LEGACY_TOKEN, LEGACY_TOKEN[::-1]):
        assert secret not in caplog.text
        assert secret not in repr(service.config) and secret not in repr(refused._api)
        for path in (tmp_path / "root").rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


def test_without_label_studio_credentials_a_training_is_refused_with_409(make_service):
    service = make_service(label_studio=None, token=None)
    with pytest.raises(ProtocolError) as caught:
        service.webhook(webhook("START_TRAINING"))
    assert caught.value.status == 409 and "--label-studio URL --token TOKEN" in caught.value.message


def test_without_a_configured_token_the_key_setup_sent_is_used(make_service, fake_ls):
    service = make_service(label_studio=None, token=None)
    fake_ls.exports[1] = _export(3)
    service.setup({**setup_body(), "hostname": fake_ls.url, "access_token": LEGACY_TOKEN})
    service.webhook(webhook("START_TRAINING"))
    (job,) = _finished(service, 1)
    assert job.status is JobStatus.SUCCEEDED, job.error


# -- the pieces ---------------------------------------------------------------------------------------------------


def test_a_mixed_project_serves_its_models_together(tmp_path):
    names = ("ner_x_annotation_manual_v2", "assertion_x_annotation_manual_v2",
             "classification_kind_annotation_manual_v2")
    calls = []

    def predict(models, tasks):
        calls.append([model["name"] for model in models])
        span = {"start": 0, "end": 5, "text": "Fever", "labels": ["PROBLEM"]}
        return [{"task": task if isinstance(task, str) else task["id"], "model_version": ",".join(names),
                 "score": 0.8, "result": [
                     {"id": "a", "from_name": "label", "to_name": "text", "type": "labels",
                      "value": {**span, "confidence": 0.9}},
                     {"id": "b", "from_name": "label", "to_name": "text", "type": "labels",
                      "value": {**span, "labels": ["Absent"], "confidence": 0.7}},
                     {"id": "c", "from_name": "kind", "to_name": "text", "type": "choices",
                      "value": {"choices": ["a"], "confidence": 0.8}}]} for task in tasks]

    server = ModelServer(tmp_path, load=lambda path: {"name": path.name}, predict=predict)
    try:
        served = server.load(1, "job-1", names)
        assert served.version == ",".join(names) and calls == [list(names)]  # warmed up together
        _, (prediction,) = server.predict(1, [{"id": 5, "data": {"text": "Fever, no cough."}}])
    finally:
        server.close()
    assert calls[-1] == list(names)
    answer = protocol.ls_prediction(prediction)
    assert answer["model_version"] == ",".join(names) and answer["score"] == 0.8
    assert [(item["type"], item["score"]) for item in answer["result"]] == [("labels", 0.9), ("labels", 0.7),
                                                                            ("choices", 0.8)]


def test_pending_work_merges_per_project_and_survives_a_restart(tmp_path):
    path = tmp_path / "pending.json"
    first = WorkQueue(path, handler=lambda *item: None)  # never started: as if killed before doing anything
    first.put(1, Work(train=True))
    first.put(2, Work(update=True))
    first.put(1, Work(update=True))
    assert first.pending() == {1: Work(train=True, update=True), 2: Work(update=True)}
    done = []
    again = WorkQueue(path, handler=lambda project_id, work: done.append((project_id, work)))
    again.start()
    try:
        assert again.join(10)
    finally:
        again.close()
    assert done == [(1, Work(train=True, update=True)), (2, Work(update=True))]
    assert WorkQueue(path, handler=lambda *item: None).pending() == {}

"""End to end against a real Label Studio 1.23.2: the backend as a real process, real NerDL trainings.

Label Studio is installed by ``tools/label_studio.py`` into its own virtualenv under the cache (it cannot share
ours: numpy>=2.2 vs <2) — on a machine without it the fixture installs it (about 2 minutes) and any failure
fails the test, never skips it. It starts on a free 127.0.0.1 port with a sqlite database in a temporary folder
(the first start runs its migrations: 1–2 minutes).

The story: an NER project with NCBI-disease sentences; the backend connected (with HTTP basic auth); 20
annotations made through the API, so active learning (``--every 20``) trains; "Start training" on the same
annotations trains nothing more; the model is served and Label Studio's "Retrieve predictions" stores exactly
what ``predict()`` of that model says. Then Label Studio's own "every N annotations"
(``min_annotations_to_start_training``) asks for a training — its 25th annotation is a skip, beside a draft,
and neither is trained on; the backend is restarted while that training runs; re-saving an annotation and the
button both ask again, and nothing trains twice; the new model is served, Label Studio predicts again, and
again stores what ``predict()`` says. Last, Label Studio's labeling page, opened in a real headless Chromium
after logging in, shows the model's spans on a task (its screenshot is ``labeling-page.png`` in the test's
temporary folder; ``docs/images/label-studio-labeling.png`` is one).
"""

from __future__ import annotations

import importlib.util
import json
import time

import pytest

from alab_training import JobStatus, ModelRegistry, load_model, predict
from alab_training.lifecycle.jobs import JobStore
from alab_training.serving import LabelStudioAPI
from tests.browser import browser, not_blank
from tests.conftest import REPO
from tests.serving.support import NER_CONFIG, Backend, eventually, ls_result, ncbi_sentences

pytestmark = pytest.mark.spark

_spec = importlib.util.spec_from_file_location("label_studio_tool", REPO / "tools" / "label_studio.py")
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)

#: Tiny but not useless: a model trained on 20–24 sentences finds the diseases it saw.
TRAINING = ["--type", "ner", "--epochs", "4", "--learning-rate", "0.02", "--batch-size", "8"]
JOB_TIMEOUT = 900.0
BASIC_AUTH = ("label-studio", "backend-pass-8Jq2")


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    """A real Label Studio, installed first if needed (failing loudly, never skipping)."""
    started = time.monotonic()
    executable = tool.ensure_label_studio(quiet=True)
    installed = time.monotonic()
    server = tool.start(tool.free_port(), tmp_path_factory.mktemp("label-studio"), executable=executable)
    print(f"\nLabel Studio {tool.VERSION}: install/check {installed - started:.0f} s, start "
          f"{time.monotonic() - installed:.0f} s")
    yield server
    server.stop()


def _job(store: JobStore, job_id: str, timeout: float = JOB_TIMEOUT):
    return eventually(lambda: (job := store.get(job_id)).finished and job, timeout, f"job {job_id} finishing")


def _same_prediction(stored: dict, expected: dict) -> None:
    """Label Studio's stored prediction is ``predict()``'s: same spans, labels and ids; scores within 1e-6."""
    assert stored["model_version"] == expected["model_version"]
    assert stored["score"] == pytest.approx(expected["score"] if expected["score"] is not None else 0.0, abs=1e-6)
    assert len(stored["result"]) == len(expected["result"])
    for got, want in zip(stored["result"], expected["result"]):
        assert {k: got[k] for k in ("id", "from_name", "to_name", "type")} == \
            {k: want[k] for k in ("id", "from_name", "to_name", "type")}
        assert {k: got["value"][k] for k in ("start", "end", "text", "labels")} == \
            {k: want["value"][k] for k in ("start", "end", "text", "labels")}
        assert got["value"]["confidence"] == pytest.approx(want["value"]["confidence"], abs=1e-6)
        assert got["score"] == pytest.approx(want["value"]["confidence"], abs=1e-6)


def _check_stored(client, project_id: int, tasks: list[dict], version: str, models_dir) -> int:
    """Retrieve predictions for ``tasks``; Label Studio must store ``predict()``'s; the spans found."""
    client.retrieve_predictions(project_id, [task["id"] for task in tasks])
    stored = {p["task"]: p for p in client.predictions(project_id) if p["model_version"] == version}
    assert sorted(stored) == sorted(task["id"] for task in tasks)
    model = load_model(models_dir / version)  # in this process, on the tests' own Spark session
    expected = predict(model, [{"id": task["id"], "data": {"text": task["data"]["text"]}} for task in tasks])
    for want in expected:
        _same_prediction(stored[want["task"]], want)
    return sum(len(p["result"]) for p in expected)


class Story:
    """What the phases of the end-to-end test share."""

    def __init__(self, label_studio, tmp_path) -> None:
        self.label_studio = label_studio
        self.client = label_studio.client()
        self.sentences = ncbi_sentences(40, with_entities_first=30)
        self.project_id = self.client.create_project("NCBI disease e2e", NER_CONFIG)["id"]
        self.client.import_tasks(self.project_id, [{"data": {"text": s["text"]}} for s in self.sentences])
        self.tasks = self.client.tasks(self.project_id)
        assert [task["data"]["text"] for task in self.tasks] == [s["text"] for s in self.sentences]
        self.unannotated = self.tasks[30:]
        self.root = tmp_path / "backend"
        self.models = self.root / "models"
        env = {"LABEL_STUDIO_API_KEY": label_studio.token, "ALAB_TRAINING_DRIVER_MEMORY": "3g"}
        arguments = ["--label-studio", label_studio.url, "--every", "20", *TRAINING, "--max-concurrent", "1",
                     "--memory-per-job", "3g", "--memory", "3g"]
        self.backend = Backend(self.root, tool.free_port(), arguments, env, tmp_path / "backend.log",
                               basic_auth=BASIC_AUTH)
        self.annotations: list[int] = []
        self.ml: dict = {}
        self.store: JobStore | None = None

    def annotate(self, start: int, stop: int) -> None:
        """Submit the gold annotations of tasks ``start``..``stop - 1`` through the API."""
        for task, sentence in zip(self.tasks[start:stop], self.sentences[start:stop]):
            self.annotations.append(self.client.create_annotation(task["id"], ls_result(sentence))["id"])

    def served(self, version: str) -> None:
        """Wait until Label Studio's view of the backend (its /setup) reports ``version``."""
        eventually(lambda: self.client.backend(self.ml["id"])["model_version"] == version, 300,
                   f"/setup reporting {version}")


def _connect(story: Story) -> None:
    story.backend.start()
    # Label Studio calls /health and /setup now, with basic auth; its webhooks carry the URL's credentials.
    story.ml = story.client.connect_backend(story.project_id, story.backend.url_with_credentials,
                                            basic_auth=BASIC_AUTH)
    assert (story.ml["readable_state"], story.ml["model_version"]) == ("Connected", "untrained")
    story.client.retrieve_predictions(story.project_id, [task["id"] for task in story.unannotated])
    assert story.client.predictions(story.project_id) == []  # no model yet: nothing stored, no error
    story.store = JobStore(story.root / "jobs" / "jobs.sqlite")


def _active_learning_trains_at_20(story: Story) -> str:
    """20 annotations: active learning's 20th queues a training; the button on the same data adds nothing."""
    story.annotate(0, 20)
    (first,) = eventually(lambda: story.store.jobs(), 60, "active learning's training")
    assert first.trigger == "active_learning"
    story.client.start_training(story.ml["id"])
    first = _job(story.store, first.id)
    assert first.status is JobStatus.SUCCEEDED, first.error
    version = first.result.models[0].name
    assert version.startswith("ner_NCBI_disease_e2e_annotation_manual_v")
    story.served(version)
    _check_stored(story.client, story.project_id, story.unannotated, version, story.models)
    return first.id


def _every_25_with_a_restart_mid_training(story: Story) -> str:
    """Label Studio's own "every 25 annotations" — the 25th is a skip (it counts it), beside a draft; the
    backend restarts while that training runs; re-saving an annotation and the button ask again."""
    client = story.client
    client.update_project(story.project_id, min_annotations_to_start_training=25)
    story.annotate(20, 24)
    client.create_draft(story.tasks[26]["id"], ls_result(story.sentences[26]))
    client.create_annotation(story.tasks[25]["id"], [], was_cancelled=True)  # START_TRAINING
    second = eventually(lambda: len(jobs := story.store.jobs()) == 2 and jobs[0], 60, "the second training")
    assert second.trigger == "manual"
    eventually(lambda: story.store.get(second.id).status is JobStatus.RUNNING, 120, "the second training running")
    story.backend.stop()  # mid-training: the training goes on in its own process
    story.backend.start()
    client.update_annotation(story.annotations[0], ls_result(story.sentences[0]))  # 25 % 25 == 0: again
    client.start_training(story.ml["id"])  # and the button: still the same annotations
    second = _job(story.store, second.id)
    assert second.status is JobStatus.SUCCEEDED, second.error
    assert "selection: 24 task(s) train" in second.log_path.read_text()  # no skip, no draft
    version = second.result.models[0].name
    story.served(version)
    found = _check_stored(client, story.project_id, story.unannotated, version, story.models)
    assert found > 0, "the second model found no disease at all in sentences naming ones it was trained on"
    return second.id


def _labeling_page_shows_the_spans(story: Story, version: str, scratch) -> None:
    """The labeling page of a task the model found spans in highlights the spans of one stored prediction."""
    stored = story.client.predictions(story.project_id)
    task = next(p["task"] for p in stored if p["model_version"] == version and p["result"])
    spans = {p["model_version"]: sorted(r["value"]["text"] for r in p["result"]) for p in stored if p["task"] == task}
    server = story.label_studio
    with browser(scratch / "chromium-profile") as tab:
        tab.open(f"{server.url}/user/login/")
        tab.wait_for("document.querySelector('input[name=email]') !== null", 60, "the login form")
        tab.run(f"document.querySelector('input[name=email]').value = {json.dumps(server.username)};"
                f"document.querySelector('input[name=password]').value = {json.dumps(server.password)};"
                "document.querySelector('input[name=email]').form.submit()")
        tab.wait_for("location.pathname !== '/user/login/' && document.readyState === 'complete'", 60,
                     "the page after logging in")
        tab.open(f"{server.url}/projects/{story.project_id}/data?task={task}")
        shown = tab.wait_for("[...document.querySelectorAll('.htx-highlight')].map(e => e.textContent)", 120,
                             "the model's spans highlighted")
        time.sleep(1)  # the panels beside the text finish drawing
        png = tab.screenshot()
    (scratch / "labeling-page.png").write_bytes(png)
    not_blank(png)
    assert sorted(shown) in spans.values(), (shown, spans)


def test_label_studio_trains_serves_and_never_trains_twice(label_studio, tmp_path, spark):
    story = Story(label_studio, tmp_path)
    try:
        _connect(story)
        first = _active_learning_trains_at_20(story)
        second = _every_25_with_a_restart_mid_training(story)
        time.sleep(3)  # what the last webhooks queued has run
        jobs = story.store.jobs()
        assert [(job.id, job.trigger, job.status) for job in jobs] == [
            (second, "manual", JobStatus.SUCCEEDED), (first, "active_learning", JobStatus.SUCCEEDED)]
        v2, v1 = (job.result.models[0].name for job in jobs)
        assert {(m.name, m.trigger) for m in ModelRegistry(story.models).list()} == {
            (v1, "active_learning"), (v2, "manual")}
        snapshot = {task["id"]: task for task in story.client.snapshot(story.project_id)}
        assert all({p["model_version"] for p in snapshot[task["id"]]["predictions"]} == {v1, v2}
                   for task in story.unannotated)
        # A personal access token reads the same annotations as the legacy token.
        personal = story.client.request("POST", "/api/token/", {})["token"]
        assert LabelStudioAPI(label_studio.url, personal).export(story.project_id) == \
            story.client.export(story.project_id)
        _labeling_page_shows_the_spans(story, v2, tmp_path)
    finally:
        story.backend.stop()
    log = story.backend.log.read_text()
    assert label_studio.token not in log and BASIC_AUTH[1] not in log and "Traceback" not in log
    assert '"POST /webhook HTTP/1.1" 401' not in log  # every webhook authenticated
    assert "serves ner_NCBI_disease_e2e_annotation_manual" in log

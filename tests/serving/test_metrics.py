"""``GET /metrics``: the scores of each model version a project served, read from the models' cards.

The handler on its own (dicts in, dicts out), over HTTP behind basic auth, and after real trainings of the
example gazetteer (no Spark). Most tests write the cards themselves and record what was served in the state
store, as a deploy does: what is answered is then known to the figure.
"""

from __future__ import annotations

import pytest

from alab_training import ModelRegistry, TrainedModel, TrainingParams
from alab_training.model_card import write_model_card
from alab_training.serving import ProtocolError, Service
from tests.serving.support import BAD, GOOD, eventually, http_json, ls_task, ncbi_sentences, setup_body, webhook


def scores(f1: float, support: int) -> dict[str, float]:
    return {"precision": f1, "recall": f1, "f1": f1, "support": support}


V1 = {"Disease": scores(0.5, 10), "micro": scores(0.5, 10), "macro": scores(0.5, 10)}
V2 = {"Disease": scores(0.75, 12), "micro": scores(0.75, 12), "macro": scores(0.75, 12)}
KIND = {"yes": scores(0.9, 5), "micro": scores(0.9, 5), "macro": scores(0.9, 5)}


def card(service: Service, name: str, kind: str, metrics: dict) -> None:
    """A trained model as the registry under the service's root reads it: its folder and its card."""
    folder = service.config.root / "models" / name
    folder.mkdir(parents=True)
    write_model_card(TrainedModel(name=name, kind=kind, path=folder, metrics=metrics, project="demo"))


def served_twice(service: Service) -> tuple[str, str]:
    """Project 1 served ``ner_demo_v1``, then ``ner_demo_v2`` with a classification model beside it; project 2 is
    set up but never served. The two versions."""
    service.setup(setup_body(1))
    service.setup(setup_body(2))
    service.store.name_for(1, "demo")
    card(service, "ner_demo_v1", "ner", V1)
    card(service, "ner_demo_v2", "ner", V2)
    card(service, "classification_demo_v2", "classification", KIND)
    service.store.serve(1, "job-1", ("ner_demo_v1",))
    state = service.store.serve(1, "job-2", ("ner_demo_v2", "classification_demo_v2"))
    return state.versions


# -- the handler ------------------------------------------------------------------------------------------------


def test_without_projects_there_are_no_scores(make_service):
    service = make_service()
    assert service.metrics() == service.metrics({}) == {}


def test_every_served_version_has_its_models_scores(make_service, fake_models):
    service = make_service()
    first, second = served_twice(service)
    assert (first, second) == ("ner_demo_v1", "ner_demo_v2,classification_demo_v2")
    everything = service.metrics()
    assert everything == {
        "1": {first: {"ner_demo_v1": V1}, second: {"ner_demo_v2": V2, "classification_demo_v2": KIND}},
        "2": {},  # set up, nothing served yet
    }
    assert list(everything["1"]) == [first, second]  # the order served, the current version last
    assert service.metrics({"project": "1"}) == {"1": everything["1"]}
    assert service.metrics({"project": "1.1796163170"}) == service.metrics({"project": 1})  # as /setup names it
    assert service.metrics({"project": "2"}) == {"2": {}}
    assert fake_models.loads == [] and fake_models.predictions == 0  # the cards only: no model, no Spark


def test_a_removed_model_has_no_scores_and_the_others_keep_theirs(make_service, caplog):
    service = make_service()
    first, second = served_twice(service)
    ModelRegistry(service.config.root / "models").remove("ner_demo_v1")
    for _ in range(3):  # a host polling the route
        assert service.metrics({"project": "1"}) == {
            "1": {first: {"ner_demo_v1": None}, second: {"ner_demo_v2": V2, "classification_demo_v2": KIND}}}
    assert [r.getMessage().split(":")[0] for r in caplog.records if "no scores" in r.getMessage()] == [
        "no scores for ner_demo_v1 (reported once)"]


@pytest.mark.parametrize("query, status, words", [
    ({"project": "7"}, 404, "unknown project 7: connect the backend to it first"),
    ({"project": "abc"}, 400, "project: expected a project id"),
    ({"project": ""}, 400, "project: expected a project id"),
    ({"project": ["1", "2"]}, 400, "project: expected a project id"),  # ?project=1&project=2
    ({"projects": "1"}, 400, "unknown query parameter 'projects': /metrics takes only project=ID"),
    ([], 400, "the query must be a JSON object"),
])
def test_an_unknown_project_or_a_bad_query_is_a_one_line_4xx(make_service, query, status, words):
    service = make_service()
    service.setup(setup_body(1))
    with pytest.raises(ProtocolError) as caught:
        service.metrics(query)
    assert caught.value.status == status and words in caught.value.message and "\n" not in caught.value.message


def test_real_trainings_scores_are_those_of_their_cards(make_service, fake_ls):
    service = make_service(params=TrainingParams(training_type="gazetteer", validation_split=0.5))
    sentences = ncbi_sentences(10, with_entities_first=10)
    for number, count in enumerate((8, 10), 1):  # new annotations: a second training, a second version
        fake_ls.exports[1] = [ls_task(i + 1, sentences[i]) for i in range(count)]
        service.webhook(webhook("START_TRAINING"))
        eventually(lambda: service.store.get(1) and len(service.store.get(1).versions) == number, 120,
                   f"version {number} served")
    registry = ModelRegistry(service.config.root / "models")
    versions = service.store.get(1).versions
    assert service.metrics() == {"1": {version: {version: registry.get(version).metrics} for version in versions}}
    assert all(registry.get(version).metrics["micro"]["support"] > 0 for version in versions)  # held out, scored


# -- over HTTP --------------------------------------------------------------------------------------------------


def test_the_route_answers_the_scores_as_json(served):
    url, service = served
    assert http_json("GET", f"{url}/metrics", headers=GOOD) == (200, {})
    first, second = served_twice(service)
    expected = {first: {"ner_demo_v1": V1}, second: {"ner_demo_v2": V2, "classification_demo_v2": KIND}}
    assert http_json("GET", f"{url}/metrics", headers=GOOD) == (200, {"1": expected, "2": {}})
    assert http_json("GET", f"{url}/metrics?project=1", headers=GOOD) == (200, {"1": expected})
    assert http_json("GET", f"{url}/metrics?project=1.1796163170", headers=GOOD) == (200, {"1": expected})


@pytest.mark.parametrize("path, headers, status, error", [
    ("/metrics", {}, 401, "authentication required"),
    ("/metrics?project=1", BAD, 401, "authentication required"),
    ("/metrics?project=7", GOOD, 404, "unknown project 7"),
    ("/metrics?project=x", GOOD, 400, "project: expected a project id"),
    ("/metrics?project=1&project=2", GOOD, 400, "project: expected a project id"),
    ("/metrics?project", GOOD, 400, "project: expected a project id"),
    ("/metrics?projet=1", GOOD, 400, "unknown query parameter 'projet'"),
])
def test_the_route_asks_for_the_credentials_and_refuses_unknown_projects(served, path, headers, status, error):
    url, service = served
    served_twice(service)
    got, answer = http_json("GET", url + path, headers=headers)
    assert got == status and list(answer) == ["error"] and error in answer["error"] and "\n" not in answer["error"]
    if status == 401:
        assert http_json("GET", url + path, headers=GOOD)[0] == 200


def test_the_route_is_read_only(served):
    url, _ = served
    assert http_json("POST", f"{url}/metrics", {}, headers=GOOD) == (405, {
        "error": "POST is not allowed here: /metrics"})

"""A mixed project — entities, assertion status and two <Choices> — trained in one call (real NegEx data)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from alab_training import TrainingParams, load_model, load_project, predict, train
from tests.corpora import negex_export

pytestmark = pytest.mark.spark

CONFIG = """<View>
  <!-- kept by deploy -->
  <Text name="text" value="$text"/>
  <Labels name="label" toName="text">
    <Label value="CONDITION"/>
    <Label value="Negated" assertion="true"/>
  </Labels>
  <Choices name="temporality" toName="text" choice="single" train="true">
    <Choice value="Recent"/><Choice value="Historical"/><Choice value="Not particular"/>
  </Choices>
  <Choices name="experiencer" toName="text" choice="single">
    <Choice value="Patient"/><Choice value="Family member"/><Choice value="Other"/>
  </Choices>
</View>"""


@pytest.fixture(scope="module")
def mixed(spark, tmp_path_factory):
    config = tmp_path_factory.mktemp("project") / "config.xml"
    config.write_text(CONFIG)
    project = load_project(negex_export(with_choices=True), config=config, name="negex")
    assert project.warnings == ()
    assert project.config.training_types() == {"ner", "assertion", "classification"}
    params = TrainingParams(test_tags=("test",), epochs=6, learning_rate=0.01, unannotated_label="Affirmed")
    return project, train(project, params, spark=spark, output_dir=tmp_path_factory.mktemp("models"), deploy=True)


def test_deployed_into_the_config_file(mixed):
    project, result = mixed
    written = Path(project.config.source).read_text()
    assert result.deployment.written == Path(project.config.source)
    assert '<Label value="CONDITION" model="ner_negex_annotation_manual"/>' in written
    assert '<Label value="Negated" assertion="true" model="assertion_negex_annotation_manual"/>' in written
    assert 'train="true" model="classification_temporality_annotation_manual">' in written
    assert '<Choices name="experiencer" toName="text" choice="single">' in written  # not the trained one
    assert written.replace(' model="ner_negex_annotation_manual"', "").replace(
        ' model="assertion_negex_annotation_manual"', "").replace(
        ' model="classification_temporality_annotation_manual"', "") == CONFIG


def test_three_models_with_the_seed_names(mixed):
    _, result = mixed
    assert [(m.kind, m.name) for m in result.models] == [
        ("ner", "ner_negex_annotation_manual"),
        ("assertion", "assertion_negex_annotation_manual"),
        ("classification", "classification_temporality_annotation_manual"),
    ]
    assert all(m.path.is_dir() and m.metrics for m in result.models)


def test_one_log_bundle_with_every_log_and_a_summary(mixed):
    _, result = mixed
    with zipfile.ZipFile(result.log_bundle) as bundle:
        names = sorted(bundle.namelist())
        summary = bundle.read("summary.txt").decode()
    assert names == sorted(f"{m.name}.log" for m in result.models) + ["summary.txt"]
    for model in result.models:
        assert model.name in summary


def test_predictions_of_all_three_in_the_export_format(mixed, spark):
    project, result = mixed
    models = [load_model(m.path, spark=spark) for m in result.models]
    tasks = [t for t in project.tasks if "test" in t.tags][:20]
    predictions = predict(models, tasks)
    assert len(predictions) == len(tasks)
    entity_items = assertion_items = choices_items = 0
    for prediction, task in zip(predictions, tasks):
        spans = {}
        for item in prediction["result"]:
            if item["type"] == "choices":
                choices_items += 1
                assert item["from_name"] == "temporality"
                assert item["value"]["choices"][0] in ("Recent", "Historical", "Not particular")
                continue
            value = item["value"]
            assert item["type"] == "labels" and task.text[value["start"]:value["end"]] == value["text"]
            spans.setdefault((value["start"], value["end"]), []).append(value["labels"][0])
        for labels in spans.values():
            entity_items += "CONDITION" in labels
            # Assertion status is a second labels item on the very offsets of the entity.
            assertion_items += any(label in ("Negated", "Affirmed") for label in labels)
            assert labels[0] == "CONDITION"
    assert choices_items == len(tasks)
    assert entity_items >= 10 and assertion_items == entity_items

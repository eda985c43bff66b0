"""Transfer learning: a real NerDL training that starts from a trained model's weights, on NCBI-disease."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from alab_training import ParamsError, TrainingParams, iter_training, load_project, train
from alab_training.runtime.embeddings import EmbeddingsSource
from alab_training.trainers.ner.transfer import BaseModel, EngineIndex, TransferPlan
from tests.conftest import DATA, REPO

EXPORT = REPO / "examples" / "ncbi_disease" / "export.json"
CONFIG = REPO / "examples" / "ncbi_disease" / "config.xml"
#: The new project adds a label the base model never saw.
CONFIG_WITH_GENE = ('<View><Text name="text" value="$text"/><Labels name="label" toName="text">'
                    '<Label value="Disease"/><Label value="Gene"/></Labels></View>')
GLOVE_SMALL = DATA / "embeddings" / "glove.6B.50d.small.txt"


def _with_gene_spans(task: dict) -> dict:
    """The task with every word ``gene``/``genes`` labelled ``Gene`` in its (first) completion."""
    text = task["data"]["text"]
    spans = [{"id": f"g{m.start()}", "from_name": "label", "to_name": "text", "type": "labels",
              "value": {"start": m.start(), "end": m.end(), "text": m.group(), "labels": ["Gene"]}}
             for m in re.finditer(r"\bgenes?\b", text, flags=re.IGNORECASE)]
    completion = task["completions"][0]
    return {**task, "completions": [{**completion, "result": completion["result"] + spans},
                                    *task["completions"][1:]]}


@pytest.fixture(scope="module")
def tasks():
    everything = json.loads(EXPORT.read_text())
    return [t for t in everything if not t.get("tags")], [t for t in everything if t.get("tags")][:10]


@pytest.fixture(scope="module")
def base(tasks, spark, tmp_path_factory):
    """The base model: Disease, trained on 40 tasks (400 sentences)."""
    train_tasks, test_tasks = tasks
    project = load_project(train_tasks[:40] + test_tasks, config=CONFIG, name="ncbi")
    params = TrainingParams(test_tags=("test",), epochs=4, learning_rate=0.01, batch_size=8)
    return train(project, params, spark=spark, output_dir=tmp_path_factory.mktemp("base")).model("ner")


@pytest.fixture(scope="module")
def new_project(tasks):
    """Other texts, now also labelled Gene: 15 tasks (150 sentences) to train on, the same 10 to score."""
    train_tasks, test_tasks = tasks
    return load_project([_with_gene_spans(t) for t in train_tasks[100:115] + test_tasks], config=CONFIG_WITH_GENE,
                        name="ncbi_genes")


# One short epoch at a low learning rate: too little to learn Disease from scratch, little enough to keep it.
SHORT = dict(test_tags=("test",), epochs=1, learning_rate=0.001, batch_size=8)


@pytest.fixture(scope="module")
def fine_tuned(base, new_project, spark, tmp_path_factory):
    params = TrainingParams(**SHORT, base_model=str(base.path))
    return train(new_project, params, spark=spark, output_dir=tmp_path_factory.mktemp("tuned")).model("ner")


@pytest.fixture(scope="module")
def from_scratch(new_project, spark, tmp_path_factory):
    return train(new_project, TrainingParams(**SHORT), spark=spark,
                 output_dir=tmp_path_factory.mktemp("scratch")).model("ner")


@pytest.mark.spark
def test_fine_tuned_model_starts_from_the_base_weights(base, fine_tuned, from_scratch):
    base_f1 = base.metrics["Disease"]["f1"]
    tuned_f1 = fine_tuned.metrics["Disease"]["f1"]
    scratch_f1 = from_scratch.metrics.get("Disease", {}).get("f1", 0.0)
    # The base must have learned something, else the comparison proves nothing.
    assert base_f1 >= 0.3, base.metrics
    # From the base, the short run keeps most of its Disease quality; from scratch it has hardly any.
    assert tuned_f1 >= 0.8 * base_f1, (base.metrics, fine_tuned.metrics)
    assert tuned_f1 >= scratch_f1 + 0.25, (fine_tuned.metrics, from_scratch.metrics)
    assert set(fine_tuned.labels) == {"Disease", "Gene"}


@pytest.mark.spark
def test_log_and_card_record_the_transfer(base, fine_tuned):
    log = fine_tuned.log_path.read_text()
    assert f"transfer learning: starting from {base.name} ({base.path})" in log
    # O, B-Disease and I-Disease come from the base; the Gene tags are new.
    assert re.search(r"tags from the base model: 3 of [45]; new: (B-Gene|I-Gene)", log), log
    card = json.loads((fine_tuned.path / "model.json").read_text())
    assert card["extra"]["base_model"] == {"name": base.name, "path": str(base.path)}
    assert card["embeddings"] == base.embeddings == "glove_6b_50d"
    assert not (fine_tuned.path / "data" / "transfer").exists()  # the weight-laden graph is scratch


@pytest.mark.spark
def test_other_embeddings_than_the_base_models_are_refused(base, new_project, tmp_path):
    params = TrainingParams(**SHORT, base_model=str(base.path), embeddings=str(GLOVE_SMALL))
    with pytest.raises(ParamsError, match="glove_6b_50d") as raised:
        train(new_project, params, output_dir=tmp_path)
    assert raised.value.field == "embeddings"
    assert not list(tmp_path.iterdir())


@pytest.mark.spark
def test_base_model_found_by_name_in_the_output_folder(base, new_project):
    # The same embeddings named explicitly are fine; resolution fails only later, so stop at the first event.
    params = TrainingParams(**SHORT, base_model=base.path.name, embeddings="glove_6b_50d")
    events = iter_training(new_project, params, output_dir=base.path.parent)
    first = next(events)
    events.close()
    assert first.text.startswith("NER training of ner_ncbi_genes_annotation_manual")


def test_missing_base_model_is_refused(tmp_path, new_project):
    with pytest.raises(ParamsError, match="neither a model folder") as raised:
        train(new_project, TrainingParams(**SHORT, base_model="nothing_here"), output_dir=tmp_path)
    assert raised.value.field == "base_model"


def test_base_model_must_be_an_ner_model_with_weights(tmp_path, new_project):
    other = tmp_path / "classifier"
    (other / "pipeline" / "stages").mkdir(parents=True)
    card = {"name": "classifier", "kind": "classification", "created_at": "2026-01-01T00:00:00+00:00"}
    (other / "model.json").write_text(json.dumps(card))
    with pytest.raises(ParamsError, match="'classification' model"):
        train(new_project, TrainingParams(**SHORT, base_model=str(other)), output_dir=tmp_path / "out")
    (other / "model.json").write_text(json.dumps({**card, "kind": "ner"}))
    with pytest.raises(ParamsError, match="no NerDL stage"):
        train(new_project, TrainingParams(**SHORT, base_model=str(other)), output_dir=tmp_path / "out")
    (tmp_path / "not_a_model").mkdir()
    with pytest.raises(ParamsError, match="no model.json"):
        train(new_project, TrainingParams(**SHORT, base_model=str(tmp_path / "not_a_model")),
              output_dir=tmp_path / "out")


def test_plan_moves_ids_by_tag_and_character():
    plan = TransferPlan(base=EngineIndex(tags=("O", "B-Disease", "I-Disease"), chars=("a", "b", "c")),
                        run=EngineIndex(tags=("O", "B-Gene", "I-Disease", "B-Disease"), chars=("c", "x", "a")))
    assert plan.tag_pairs == ((0, 0), (2, 2), (3, 1))
    assert plan.char_pairs == ((0, 0), (1, 3), (3, 1))
    source = EmbeddingsSource(name="e", dimension=50, case_sensitive=False, format="text", location=Path("e.txt"))
    lines = plan.lines(BaseModel(path=Path("p"), name="b", labels=("Disease",), embeddings=source,
                                 ner_stage=Path("p/s")))
    assert "tags from the base model: 3 of 4; new: B-Gene" in lines[1]
    assert "characters from the base model: 2 of 3" in lines[2]

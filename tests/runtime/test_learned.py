"""Word vectors learned from the project's own texts: what they depend on, what they learn, their cache, and a
German NER trained through ``train()`` with no vectors given."""

from __future__ import annotations

import random

import attrs
import pytest

from alab_training import ParamsError, TrainingError, TrainingParams, load_model, load_project, predict, train
from alab_training.exports.iob import iob_to_tasks
from alab_training.model_card import read_model_card
from alab_training.runtime.embeddings import LEARNED_DIMENSION, load_word_embeddings
from alab_training.runtime.learned import DEFAULT_SETTINGS, corpus_files, learn_vectors, plan_learned

TEXTS = ["Der Hund läuft nach Hause.", "Die Katze läuft nach Hause.", "Der Hund schläft.", "Die Katze schläft."]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache of this test's own, so nothing learned by another run (or test) is reused by accident."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("ALAB_TRAINING_CACHE", str(folder))
    return folder


def test_the_key_is_the_texts_as_a_multiset_and_everything_else_they_depend_on(cache, tmp_path):
    plan = plan_learned(TEXTS, "de")
    assert plan.name.startswith("learned_de_") and plan.entry.parent == cache / "learned"
    assert plan.source.format == "learned" and plan.source.dimension == LEARNED_DIMENSION
    assert not plan.source.case_sensitive  # lower-cased by default: Madrid and madrid share a vector
    # Export order and blank texts do not matter: an active-learning round with the same texts reuses the entry.
    assert plan_learned([*reversed(TEXTS), "  ", ""], "de").key == plan.key
    assert plan.key["corpus"]["tasks"] == 4
    # A repeated text counts (it is a multiset), and so do other texts, settings, languages and corpus contents.
    others = [plan_learned([*TEXTS, TEXTS[0]], "de"), plan_learned(TEXTS[:3], "de"), plan_learned(TEXTS, "es"),
              plan_learned(TEXTS, "de", settings=attrs.evolve(DEFAULT_SETTINGS, epochs=DEFAULT_SETTINGS.epochs + 1))]
    corpus = tmp_path / "more.txt"
    corpus.write_text("Ein Satz.\n", encoding="utf-8")
    with_corpus = plan_learned(TEXTS, "de", str(corpus))
    corpus.write_text("Ein anderer Satz.\n", encoding="utf-8")
    others += [with_corpus, plan_learned(TEXTS, "de", str(corpus))]
    names = {plan.name, *(other.name for other in others)}
    assert len(names) == len(others) + 1, names


def test_the_unlabelled_corpus_is_a_file_or_a_folder_of_txt_files(tmp_path):
    assert corpus_files(None) == ()
    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    for name in ("b.txt", "a.txt", "sub/c.txt", "notes.md"):
        (folder / name).write_text("Text.\n", encoding="utf-8")
    assert [p.relative_to(folder).as_posix() for p in corpus_files(str(folder))] == ["a.txt", "b.txt", "sub/c.txt"]
    assert corpus_files(str(folder / "notes.md")) == ((folder / "notes.md").resolve(),)
    (tmp_path / "empty").mkdir()
    for bad in (tmp_path / "empty", tmp_path / "missing.txt"):
        with pytest.raises(ParamsError) as caught:
            plan_learned(TEXTS, "de", str(bad))
        assert caught.value.field == "unlabelled_corpus" and caught.value.value == str(bad)


def _vectors(folder) -> dict[str, list[float]]:
    rows = (line.split(" ") for line in (folder / "vectors.txt").read_text(encoding="utf-8").splitlines())
    return {word: [float(v) for v in values] for word, *values in rows}


@pytest.mark.spark
def test_vectors_are_learned_once_on_the_trainers_tokens_and_looked_up_in_any_case(spark, cache, tmp_path):
    from pyspark.ml import Pipeline
    from sparknlp.base import DocumentAssembler

    from alab_training.runtime.languages import sentence_detector, tokenizer

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("«Madrid» liegt in Spanien.\n\nMadrid ist groß.\n", encoding="utf-8")
    plan = plan_learned([*TEXTS, "¿Dónde está Madrid?"], "de", str(corpus))
    first = learn_vectors(spark, plan)
    assert first.learned and first.source == plan.source
    made = first.manifest
    assert made["corpus"]["tasks"] == 5 and made["corpus"]["file_lines"] == 2  # the blank line is no text
    assert made["sentences"] == 7 and made["tokens"] == 36
    vectors = _vectors(plan.entry)
    # Lower-cased, split as the trainers split (``¿`` and ``«`` off their words), and only words seen twice.
    assert {"madrid", "hund", "katze", "läuft", "nach", "hause", "schläft", ".", "der", "die"} <= set(vectors)
    assert not {"Madrid", "«madrid»", "¿dónde", "spanien", "groß"} & set(vectors)
    assert {len(v) for v in vectors.values()} == {LEARNED_DIMENSION}
    assert made["vocabulary"] == len(vectors)
    log = "\n".join(first.lines())
    assert "from 5 task text(s) + the unlabelled corpus" in log and "learned now" in log
    assert first.card()["learned_now"] and first.card()["trainer"] == "Spark NLP Word2VecApproach"

    again = learn_vectors(spark, plan_learned(reversed([*TEXTS, "¿Dónde está Madrid?"]), "de", str(corpus)))
    assert not again.learned and again.manifest == made and "reused from the cache" in again.lines()[1]

    # Looked up like any vectors file: the exact form, else the lower-cased one.
    frame = spark.createDataFrame([("MADRID und Madrid und Unbekannt",)], "text string")
    stages = [DocumentAssembler().setInputCol("text").setOutputCol("document"),
              sentence_detector("de").setInputCols(["document"]).setOutputCol("sentence"),
              tokenizer("de").setInputCols(["sentence"]).setOutputCol("token"),
              load_word_embeddings(spark, plan.source)]
    (row,) = Pipeline(stages=stages).fit(frame).transform(frame).select("embeddings").collect()
    found = {a.result: list(a.embeddings) for a in row["embeddings"]}
    expected = pytest.approx(vectors["madrid"], abs=1e-5)
    assert found["MADRID"] == expected and found["Madrid"] == expected
    assert not any(found["Unbekannt"])


@pytest.mark.spark
def test_a_corpus_with_no_word_seen_twice_fails_with_the_reason(spark, cache):
    with pytest.raises(TrainingError, match="learning word vectors from 1 task text"):
        learn_vectors(spark, plan_learned(["Einmalig gesagte Worte"], "de"))


def _german_sentences(count: int, seed: int) -> list[list[tuple[str, str]]]:
    """Templated German sentences with persons, places and organisations (the names repeat across sentences)."""
    rng = random.Random(seed)
    persons = [["Angela", "Merkel"], ["Hans", "Müller"], ["Petra", "Schmidt"], ["Jürgen", "Klopp"], ["Anna", "Weber"]]
    places = [["Berlin"], ["München"], ["Baden-Württemberg"], ["St.", "Gallen"], ["Hamburg"], ["Köln"]]
    orgs = [["Siemens"], ["Deutsche", "Bahn"], ["EU-Kommission"], ["Bayern", "München"], ["Volkswagen"]]

    def entity(words, label):
        return [(word, ("B-" if i == 0 else "I-") + label) for i, word in enumerate(words)]

    templates = [
        lambda p, l, o: [*entity(p, "PER"), ("wohnt", "O"), ("in", "O"), *entity(l, "LOC"), (".", "O")],
        lambda p, l, o: [("„", "O"), ("Gut", "O"), ("“", "O"), (",", "O"), ("sagte", "O"), *entity(p, "PER"),
                         ("am", "O"), ("3", "O"), (".", "O"), ("Oktober", "O"), ("in", "O"), *entity(l, "LOC"),
                         (".", "O")],
        lambda p, l, o: [*entity(p, "PER"), ("arbeitet", "O"), ("bei", "O"), *entity(o, "ORG"), (".", "O")],
        lambda p, l, o: [("Die", "O"), *entity(o, "ORG"), ("baut", "O"), ("in", "O"), *entity(l, "LOC"),
                         (".", "O")],
    ]
    return [rng.choice(templates)(rng.choice(persons), rng.choice(places), rng.choice(orgs)) for _ in range(count)]


@pytest.mark.spark
def test_a_german_ner_learns_its_vectors_from_every_task_text_and_reuses_them(spark, cache, tmp_path):
    config = ('<View><Text name="text" value="$text"/><Labels name="label" toName="text"><Label value="PER"/>'
              '<Label value="LOC"/><Label value="ORG"/></Labels></View>')
    labelled = iob_to_tasks(_german_sentences(300, seed=1), sentences_per_task=5)
    test = iob_to_tasks(_german_sentences(50, seed=2), sentences_per_task=5, first_id=len(labelled) + 1,
                        tags=("test",))
    unlabelled = [{"id": 1000 + i, "data": {"text": " ".join(w for w, _ in sentence)}}
                  for i, sentence in enumerate(_german_sentences(20, seed=3))]
    project = load_project(labelled + test + unlabelled, config=config, name="de")
    params = TrainingParams(training_type="ner", language="de", test_tags=("test",), epochs=4, learning_rate=0.01,
                            batch_size=8)
    model = train(project, params, spark=spark, output_dir=tmp_path / "one").model("ner")
    assert model.embeddings.startswith("learned_de_")
    log = model.log_path.read_text()
    total = len(labelled) + len(test) + len(unlabelled)
    assert f"word vectors learned by Spark NLP Word2VecApproach (skip-gram) from {total} task text(s)" in log
    _, extra = read_model_card(model.path)
    assert extra["learned_embeddings"]["name"] == model.embeddings and extra["learned_embeddings"]["learned_now"]
    assert extra["learned_embeddings"]["corpus"]["tasks"] == total
    # The templates are easy: a model that learned anything tags most of them (all-outside scores 0).
    assert model.metrics["micro"]["f1"] >= 0.8, model.metrics

    # Reloaded from its folder, the model keeps its vectors and splits German as it was trained to.
    (prediction,) = predict(load_model(model.path, spark=spark),
                            [{"id": 1, "data": {"text": "„Gut“, sagte Petra Schmidt am 3. Oktober in St. Gallen."}}])
    found = {(r["value"]["text"], r["value"]["labels"][0]) for r in prediction["result"]}
    assert ("Petra Schmidt", "PER") in found and ("St. Gallen", "LOC") in found, found

    # Retrained on the same texts (a new round with nothing changed): the vectors come from the cache.
    again = train(project, attrs.evolve(params, epochs=1), spark=spark, output_dir=tmp_path / "two").model("ner")
    assert again.embeddings == model.embeddings
    assert "reused from the cache" in again.log_path.read_text()
    assert not read_model_card(again.path)[1]["learned_embeddings"]["learned_now"]


@pytest.mark.spark
def test_a_spanish_classifier_uses_the_same_vectors_as_the_project_texts_give(spark, cache, tmp_path):
    rng = random.Random(5)
    topics = {"deporte": ["el equipo ganó el partido", "el portero paró el penalti", "la liga empieza el domingo",
                          "el delantero marcó dos goles"],
              "política": ["el gobierno aprobó la ley", "el parlamento votó los presupuestos",
                           "el ministro dimitió ayer", "la oposición pidió elecciones"]}
    rows = []
    for index in range(120):
        label = "deporte" if index % 2 else "política"
        text = f"¿Sabías que {rng.choice(topics[label])}? ¡{rng.choice(topics[label]).capitalize()}!"
        rows.append({"id": index + 1, "data": {"text": text}, "tags": ["test"] if index % 4 == 0 else [],
                     "completions": [{"id": 1000 + index, "created_username": "a", "submitted_at": "2024-01-01",
                                      "result": [{"id": f"r{index}", "type": "choices", "from_name": "tema",
                                                  "to_name": "text", "value": {"choices": [label]}}]}]})
    config = ('<View><Text name="text" value="$text"/><Choices name="tema" toName="text" choice="single">'
              '<Choice value="deporte"/><Choice value="política"/></Choices></View>')
    project = load_project(rows, config=config, name="es")
    params = TrainingParams(training_type="classification", language="es", test_tags=("test",), epochs=20,
                            learning_rate=0.01, batch_size=8)
    model = train(project, params, spark=spark, output_dir=tmp_path).model("classification")
    # The vectors of the project's texts, whichever trainer asks: an NER on the same project reuses this entry.
    assert model.embeddings == plan_learned((task.text for task in project.tasks), "es").name
    assert "word vectors learned by Spark NLP Word2VecApproach (skip-gram) from 120 task text(s)" in \
        model.log_path.read_text()
    assert model.metrics["accuracy"]["accuracy"] >= 0.9, model.metrics

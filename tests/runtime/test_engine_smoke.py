from __future__ import annotations

import json

import pytest

from alab_training.runtime import EngineProfile, engine_profile, provision_jars
from alab_training.runtime.jars import _pom

pytestmark = pytest.mark.spark


def test_profile_matches_the_installed_engine():
    import sparknlp

    profile = engine_profile()
    assert profile.spark_nlp == sparknlp.version()
    assert profile.artifact.endswith(":" + sparknlp.version())


def test_jars_are_cached_with_a_manifest():
    jars = provision_jars()
    manifest = json.loads((jars[0].parent / "manifest.json").read_text())
    assert {entry["file"] for entry in manifest["jars"]} == {jar.name for jar in jars}
    assert any(jar.name.startswith("spark-nlp") for jar in jars)
    # Spark supplies its own Scala and Spark jars; a second copy would break the classpath.
    assert not [jar for jar in jars if jar.name.startswith(("scala-library", "spark-core"))]
    assert provision_jars() == jars  # second call: straight from the cache


def test_pom_lists_exclusions_and_extras():
    pom = _pom(EngineProfile(spark_nlp="1.0", artifact="g:a:1.0", exclusions=("x:y",), extra=("p:q:2",)))
    assert "<artifactId>y</artifactId>" in pom and "<artifactId>q</artifactId><version>2</version>" in pom


def test_tokenizer_pipeline_runs(spark):
    from pyspark.ml import Pipeline
    from sparknlp.annotator import Tokenizer
    from sparknlp.base import DocumentAssembler

    data = spark.createDataFrame([("Fever and cough, no rash.",)], ["text"])
    pipeline = Pipeline(stages=[
        DocumentAssembler().setInputCol("text").setOutputCol("document"),
        Tokenizer().setInputCols(["document"]).setOutputCol("token"),
    ])
    row = pipeline.fit(data).transform(data).select("token.result", "token.begin", "token.end").first()
    assert row["result"] == ["Fever", "and", "cough", ",", "no", "rash", "."]
    assert (row["begin"][2], row["end"][2]) == (10, 14)  # Spark NLP ends are inclusive


def test_tensorflow_models_train_save_and_reload(spark, tmp_path):
    """ClassifierDL runs on the engine's TensorFlow runtime; reloading a saved model exercises the Session patch."""
    from pyspark.ml import Pipeline, PipelineModel
    from sparknlp.annotator import ClassifierDLApproach, SentenceEmbeddings, Tokenizer, WordEmbeddings
    from sparknlp.base import DocumentAssembler

    from tests.conftest import DATA

    rows = [line.rstrip("\n").split("\t", 1) for line in (DATA / "sms_spam" / "sms_spam_200.tsv").open()][1:]
    data = spark.createDataFrame([(text, label) for label, text in rows], ["text", "label"])
    pipeline = Pipeline(stages=[
        DocumentAssembler().setInputCol("text").setOutputCol("document"),
        Tokenizer().setInputCols(["document"]).setOutputCol("token"),
        WordEmbeddings().setStoragePath(str(DATA / "embeddings" / "glove.6B.50d.small.txt"), "TEXT")
        .setDimension(50).setStorageRef("glove_50d_test").setInputCols(["document", "token"])
        .setOutputCol("embeddings"),
        SentenceEmbeddings().setInputCols(["document", "embeddings"]).setOutputCol("sentence_embeddings"),
        ClassifierDLApproach().setInputCols(["sentence_embeddings"]).setOutputCol("category").setLabelColumn("label")
        .setMaxEpochs(3).setRandomSeed(1).setEnableOutputLogs(False),
    ])
    pipeline.fit(data).write().overwrite().save(str(tmp_path / "model"))
    reloaded = PipelineModel.load(str(tmp_path / "model"))
    predicted = [row["category"][0]["result"] for row in reloaded.transform(data).select("category").collect()]
    assert len(predicted) == len(rows) and set(predicted) <= {"ham", "spam"}


def test_the_active_session_is_reused_as_it_is(spark):
    from alab_training.runtime import start_session

    assert start_session(app_name="something-else") is spark
    assert spark.conf.get("spark.app.name") == "alab-training-tests"

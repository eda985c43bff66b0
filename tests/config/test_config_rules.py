from __future__ import annotations

import pytest

from alab_training import ConfigError, load_config
from alab_training.config import model_kind

TEMPLATE = '<View><Text name="t" value="$text"/><Labels name="l" toName="t">{}</Labels>{}</View>'


def config(labels: str, extra: str = "", **kwargs):
    return load_config(TEMPLATE.format(labels, extra), **kwargs)


@pytest.mark.parametrize(
    ("name", "kind"),
    [("ner_jsl", "ner"), ("assertion_jsl_annotation_manual.model", "assertion"),
     ("classification_age_annotation_manual", "classification"), ("embeddings_clinical", None), ("nerd", None)],
)
def test_model_kind_from_name(name, kind):
    assert model_kind(name) == kind


def test_valid_models_pass():
    loaded = config('<Label value="PROBLEM" model="ner_clinical"/>'
                    '<Label value="Absent" assertion="true" model="assertion_jsl_annotation_manual.model"/>'
                    '<Label value="Past" assertion="true" model="assertion_jsl_annotation_manual"/>')
    assert loaded.assertion_labels == ("Absent", "Past")


@pytest.mark.parametrize(
    ("labels", "rule"),
    [
        ('<Label value="Absent" assertion="true" model="ner_clinical"/>', "assertion_label_with_ner_model"),
        ('<Label value="Absent" assertion="true" model="classification_x_annotation_manual"/>',
         "assertion_label_with_classifier"),
        ('<Label value="PROBLEM" model="assertion_dl"/>', "entity_label_with_assertion_model"),
        ('<Label value="Absent" assertion="true" model="assertion_dl"/>'
         '<Label value="Past" assertion="true" model="assertion_jsl"/>', "several_assertion_models"),
    ],
)
def test_seed_rules_refuse(labels, rule):
    with pytest.raises(ConfigError) as error:
        config(labels)
    assert error.value.rule == rule


def test_flag_conflict_across_controls():
    xml = ('<View><Text name="t" value="$text"/><Labels name="a" toName="t"><Label value="X"/></Labels>'
           '<Labels name="b" toName="t"><Label value="X" assertion="true"/></Labels></View>')
    with pytest.raises(ConfigError) as error:
        load_config(xml)
    assert error.value.rule == "assertion_flag_conflict"


def test_unknown_model_names_with_a_known_set():
    labels = '<Label value="PROBLEM" model="ner_mine"/>'
    assert config(labels, known_models={"ner_mine"}).ner_labels == ("PROBLEM",)
    with pytest.raises(ConfigError) as error:
        config(labels, known_models={"ner_other"})
    assert error.value.rule == "unknown_model"
    choices = '<Choices name="c" toName="t" model="classification_c_annotation_manual"><Choice value="x"/></Choices>'
    with pytest.raises(ConfigError):
        config('<Label value="A"/>', choices, known_models=set())

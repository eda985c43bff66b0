"""Configs that are accepted today and then misread: two controls of one name, a ``toName`` pointing nowhere,
names with characters Python takes for white space, paths that cannot name a file."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from alab_training import ConfigError, ParamsError, deploy, load_config, load_project
from alab_training.config.rewrite import set_model_attributes
from alab_training.model import TrainedModel

TEXT = '<Text name="text" value="$text"/>'
LABELS = '<Labels name="{name}" toName="text"><Label value="{value}"/></Labels>'
CHOICES = '<Choices name="{name}" toName="text"><Choice value="{value}"/></Choices>'


@pytest.mark.parametrize("second", [LABELS.format(name="label", value="B"), CHOICES.format(name="label", value="x"),
                                    '<Text name="label" value="$other"/>'])
def test_two_elements_of_one_name_are_refused(second):
    xml = f"<View>{TEXT}{LABELS.format(name='label', value='A')}\n{second}</View>"
    with pytest.raises(ConfigError) as error:
        load_config(xml)
    assert (error.value.rule, error.value.line) == ("duplicate_name", 2)
    assert "'label'" in str(error.value)


def test_two_choices_of_one_name_are_refused():
    xml = f"<View>{TEXT}{CHOICES.format(name='c', value='x')}{CHOICES.format(name='c', value='y')}</View>"
    with pytest.raises(ConfigError, match="unique") as error:
        load_config(xml)
    assert error.value.rule == "duplicate_name"


def test_before_the_fix_a_second_labels_lost_its_spans_without_a_word():
    """What the rule prevents: a span of the second control, read against the first control's labels."""
    with pytest.raises(ConfigError):
        load_project([{"id": 1, "data": {"text": "x"}}], config=f"<View>{TEXT}{LABELS.format(name='l', value='A')}"
                                                                 f"{LABELS.format(name='l', value='B')}</View>")


@pytest.mark.parametrize("objects", ["", '<Header value="Notes"/>', '<Text name="t" value="static, no data"/>'])
def test_a_to_name_pointing_nowhere_is_refused_also_without_any_text(objects):
    with pytest.raises(ConfigError, match="names no") as error:
        load_config(f"<View>{objects}{LABELS.format(name='l', value='A')}</View>")
    assert error.value.rule == "unknown_to_name"


def test_a_config_text_that_no_file_could_hold_is_a_config_error():
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(f"<View>{TEXT}<!-- \ud800 --></View>")


@pytest.mark.parametrize("path", ["con\0fig.xml", "", "/dev/zero"])
def test_deploy_to_a_path_that_names_no_file_is_a_config_error(path, tmp_path):
    model = TrainedModel(name="ner_x", kind="ner", path=tmp_path, labels=("A",))
    with pytest.raises(ConfigError, match="cannot read"):
        deploy(path, model)


def test_a_fifo_config_is_refused_at_once(tmp_path):
    fifo = tmp_path / "config.xml"
    os.mkfifo(fifo)
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(pytest.raises(ConfigError, load_config, fifo)))
    thread.start()
    thread.join(5)
    assert outcome and "FIFO" in str(outcome[0].value)


def test_known_models_must_be_names():
    with pytest.raises(ParamsError) as error:
        load_config(f"<View>{TEXT}</View>", known_models="ner_x")
    assert error.value.field == "known_models"


#: Characters Python's ``\s`` matches that XML allows in a name (U+1680 is a name character), and others that
#: can only be in attribute values, where they must come through unchanged.
NAME_CHARACTERS = "\u1680"
VALUE_CHARACTERS = "\u1680\u2028\u2029\u00a0\u3000\x85\u2003"


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from(f"ab{NAME_CHARACTERS}"), min_size=1, max_size=5),
       st.text(alphabet=st.sampled_from(f"xy {VALUE_CHARACTERS}"), max_size=6),
       st.sampled_from([" ", "\n", "\t", "\r\n  "]))
def test_model_attributes_are_set_whatever_the_names_and_values_hold(name, value, space):
    xml = (f'<View>{TEXT}<Labels name="l" toName="text"><Label{space}value="A"{space}x{name}="{value}"/>'
           "</Labels></View>")
    etree.fromstring(xml.encode())  # well-formed, as lxml reads it
    rewritten = set_model_attributes(xml, {3: "ner_x"})
    label = etree.fromstring(rewritten.encode()).find(".//Label")
    assert label.get("model") == "ner_x" and label.get(f"x{name}") == value.replace("\r", " ")
    assert rewritten.replace(' model="ner_x"', "", 1) == xml


def test_deploy_onto_a_config_with_such_a_name(tmp_path):
    path = tmp_path / "config.xml"
    path.write_text(f'<View>{TEXT}<Labels name="l" toName="text"><Label value="A" a\u1680b="1"/></Labels></View>')
    result = deploy(path, TrainedModel(name="ner_x", kind="ner", path=Path("."), labels=("A",)))
    assert result.written == path.resolve() and 'a\u1680b="1" model="ner_x"' in path.read_text()


def test_a_model_name_the_files_encoding_lacks_is_written_as_a_character_reference(tmp_path):
    path = tmp_path / "config.xml"
    path.write_bytes(f'<?xml version="1.0" encoding="ISO-8859-1"?><View>{TEXT}<Labels name="l" toName="text">'
                     '<Label value="Größe"/></Labels></View>'.encode("latin-1"))
    odd = TrainedModel(name="ner_€", kind="ner", path=tmp_path, labels=("Größe",))
    assert deploy(path, odd).written == path.resolve()
    assert b'model="ner_&#8364;"' in path.read_bytes()
    assert load_config(path).labels_controls[0].labels[0].model == "ner_€"
    assert deploy(path, odd).written is None  # deploying it again changes nothing

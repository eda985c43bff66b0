from __future__ import annotations

import pytest

from alab_training import ConfigError, ParamsError, load_config
from alab_training.config import parse_xml
from tests.conftest import ALAB_DEMO_CONFIG, LABEL_STUDIO, NER_CONFIG


def test_reads_labels_assertion_flags_and_choices():
    config = load_config(NER_CONFIG)
    assert config.ner_labels == ("PROBLEM", "TEST")
    assert config.assertion_labels == ("Absent",)
    (choices,) = config.choices_controls
    assert (choices.name, choices.values, choices.multi_label) == ("kind", ("a", "b"), True)
    assert config.text_key == "text"


def test_reads_config_files_and_keeps_the_original_text(tmp_path):
    path = LABEL_STUDIO / "ner_assertion_config.xml"
    config = load_config(path)
    assert config.xml == path.read_text()
    assert config.training_types() == {"ner", "assertion"}


@pytest.mark.parametrize(
    ("xml", "types"),
    [
        (ALAB_DEMO_CONFIG, {"ner", "assertion", "classification"}),
        ('<View><Text name="t" value="$text"/><Labels name="l" toName="t"><Label value="A"/></Labels></View>', {"ner"}),
        ('<View><Text name="t" value="$text"/><Choices name="c" toName="t"><Choice value="x"/></Choices></View>',
         {"classification"}),
        # Assertion status attaches to NER spans: without entity labels there is nothing to attach to.
        ('<View><Text name="t" value="$text"/><Labels name="l" toName="t"><Label value="A" assertion="true"/>'
         "</Labels></View>", set()),
        ('<View><Text name="t" value="$text"/></View>', set()),
    ],
)
def test_training_types(xml, types):
    assert load_config(xml).training_types() == types


def test_text_key_comes_from_the_text_object():
    config = load_config('<View><Text name="doc" value="$body"/><Labels name="l" toName="doc"><Label value="A"/>'
                         "</Labels></View>")
    assert config.text_key == "body"


CHOICES = ('<View><Text name="t" value="$text"/>{}</View>')


@pytest.mark.parametrize(
    ("controls", "expected"),
    [
        ('<Choices name="zeta" toName="t"><Choice value="x"/></Choices>'
         '<Choices name="alpha" toName="t"><Choice value="x"/></Choices>', "alpha"),
        ('<Choices name="zeta" toName="t" train="true"><Choice value="x"/></Choices>'
         '<Choices name="alpha" toName="t"><Choice value="x"/></Choices>', "zeta"),
    ],
)
def test_choices_to_train_follows_train_flag_then_alphabet(controls, expected):
    assert load_config(CHOICES.format(controls)).choices_to_train().name == expected


def test_choices_to_train_by_name_and_unknown_name():
    config = load_config(CHOICES.format('<Choices name="a" toName="t"><Choice value="x"/></Choices>'
                                        '<Choices name="b" toName="t"><Choice value="x"/></Choices>'))
    assert config.choices_to_train("b").name == "b"
    with pytest.raises(ConfigError) as error:
        config.choices_to_train("c")
    assert error.value.rule == "unknown_choices"


def test_the_kept_text_parses_to_a_fresh_copy_with_comments():
    config = load_config('<View><!-- keep me --><Text name="t" value="$text"/></View>')
    tree = parse_xml(config.xml)
    tree.getroot().set("changed", "yes")
    assert "keep me" in parse_xml(config.xml).getroot()[0].text
    assert parse_xml(config.xml).getroot().get("changed") is None


@pytest.mark.parametrize(
    "xml",
    [
        # XXE: an external entity must never be read.
        '<?xml version="1.0"?><!DOCTYPE v [<!ENTITY x SYSTEM "file:///etc/passwd">]><View><Text name="t" '
        'value="$text"/><Labels name="l" toName="t"><Label value="&x;"/></Labels></View>',
        # Billion laughs.
        '<?xml version="1.0"?><!DOCTYPE v [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
        '<View><Text name="t" value="$text"/><Labels name="l" toName="t"><Label value="&d;"/></Labels></View>',
        # External DTD over the network.
        '<?xml version="1.0"?><!DOCTYPE View SYSTEM "http://127.0.0.1:9/x.dtd"><View/>',
        # The same XXE, UTF-16 encoded so a byte search cannot see it.
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE v [<!ENTITY x SYSTEM "file:///etc/passwd">]><View/>'
        .encode("utf-16"),
    ],
)
def test_refuses_dtds_and_entities(xml):
    with pytest.raises(ConfigError) as error:
        load_config(xml)
    assert error.value.rule in ("dtd", "xml_syntax")
    assert "root:" not in str(error.value)  # nothing of /etc/passwd leaked into the message


@pytest.mark.parametrize(
    ("xml", "rule"),
    [
        ("<View><Labels", "xml_syntax"),
        ("<Config/>", "root"),
        ('<View><Text name="t" value="$text"/><Labels toName="t"><Label value="A"/></Labels></View>', "missing_name"),
        ('<View><Text name="t" value="$text"/><Labels name="l" toName="t"><Label/></Labels></View>', "missing_value"),
        ('<View><Text name="t" value="$text"/><Labels name="l" toName="t"><Label value="A"/><Label value="A"/>'
         "</Labels></View>", "duplicate_label"),
        ('<View><Text name="t" value="$text"/><Labels name="l" toName="nowhere"><Label value="A"/></Labels></View>',
         "unknown_to_name"),
        ('<View><Text name="t" value="$text"/><Choices name="c" toName="t" choice="some"><Choice value="x"/>'
         "</Choices></View>", "bad_choice_mode"),
    ],
)
def test_malformed_configs_name_the_rule(xml, rule):
    with pytest.raises(ConfigError) as error:
        load_config(xml)
    assert error.value.rule == rule


def test_error_carries_the_line():
    xml = ('<View>\n<Text name="t" value="$text"/>\n<Labels name="l" toName="t">\n<Label value="A"/>\n<Label/>\n'
           '</Labels></View>')
    with pytest.raises(ConfigError) as error:
        load_config(xml)
    assert error.value.line == 5


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.xml")


@pytest.mark.parametrize("value", [123, None, ["<View/>"], 1.5])
def test_wrong_types_are_params_errors_naming_them(value):
    with pytest.raises(ParamsError) as error:
        load_config(value)
    assert error.value.field == "config"


@pytest.mark.parametrize("value", ["con\0fig.xml", "", "/dev/zero", "/dev/stdin", "/"])
def test_what_cannot_be_a_config_file_is_refused_at_once(value):
    with pytest.raises(ConfigError, match="cannot read the labeling config"):
        load_config(value)

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from alab_training import ConfigError, ParamsError, load_config, load_project
from alab_training.errors import ModelNotFoundError
from alab_training.lifecycle.deploy import MAX_MODELS, DeployResult, deploy
from alab_training.lifecycle.registry import ModelRegistry
from alab_training.model import TrainedModel
from alab_training.model_card import write_model_card

CONFIGS = Path(__file__).parents[1] / "data" / "configs"
CASES = json.loads((CONFIGS / "cases.json").read_text(encoding="utf-8"))

#: The models the hold-out cases deploy, by key: (card fields, the card's extra).
MODELS = {
    "ner": ({"name": "ner_demo_annotation_manual_v2", "kind": "ner", "version": 2,
             "labels": ("DATE", "PROBLEM", "TEST", "TREATMENT", "A & B", "Befund_ä")}, {"from_name": "label"}),
    "ner_absent": ({"name": "ner_demo_annotation_manual", "kind": "ner", "labels": ("Absent", "PROBLEM")}, {}),
    "ner_al": ({"name": "ner_demo_al", "kind": "ner", "project": "Demo", "labels": ("TREATMENT",)}, {}),
    "ner_dates": ({"name": "ner_dates_v2", "kind": "ner", "project": "dates", "labels": ("DATE", "DRUG")}, {}),
    "ner_drug": ({"name": "ner_drugs_annotation_manual", "kind": "ner", "project": "drugs", "labels": ("DRUG",)}, {}),
    "ner_latin": ({"name": "ner_befunde_annotation_manual", "kind": "ner", "project": "befunde",
                   "labels": ("Läsion", "Größe")}, {}),
    "assertion": ({"name": "assertion_demo_annotation_manual", "kind": "assertion",
                   "labels": ("Absent", "Past", "Present")}, {"from_name": "label"}),
    "classification": ({"name": "classification_sentiment_annotation_manual", "kind": "classification",
                        "labels": ("Female", "Male")}, {"from_name": "sentiment"}),
    "classification_topic": ({"name": "classification_topic_main_annotation_manual", "kind": "classification",
                              "labels": ("Billing", "Shipping")}, {"from_name": "topic-main"}),
    "classification_bert": ({"name": "classification_sentiment_annotation_manual_v2", "kind": "classification",
                             "labels": ("Female", "Male"), "embeddings": "bert_base_cased"},
                            {"from_name": "sentiment"}),
    "relation": ({"name": "re_demo_annotation_manual", "kind": "relation", "labels": ("is_date_of",)}, {}),
}


@pytest.fixture
def models(tmp_path: Path) -> dict[str, TrainedModel]:
    """Every model of MODELS, saved with its card in ``tmp_path/models`` as train() would leave it."""
    saved = {}
    for key, (fields, extra) in MODELS.items():
        folder = tmp_path / "models" / fields["name"]
        folder.mkdir(parents=True)
        model = TrainedModel(path=folder, **{"project": "demo", "embeddings": "glove_6b_50d", **fields})
        write_model_card(model, extra)
        saved[key] = model
    return saved


@pytest.fixture
def registry(tmp_path: Path, models) -> ModelRegistry:
    return ModelRegistry(tmp_path / "models")


def copy(name: str, folder: Path) -> Path:
    target = folder / "config" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CONFIGS / name, target)
    return target


def beside(path: Path) -> list[str]:
    """What else is in the config's folder, but for the sidecar lock deploy takes (and leaves, by design)."""
    return sorted(p.name for p in path.parent.iterdir() if p != path and p.name != f".{path.name}.lock")


def attributes_without_model(xml: bytes) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every node (elements, comments, PIs) with its attributes in order, ``model`` left out."""
    root = etree.fromstring(xml)
    return [(str(node.tag), [(k, v) for k, v in node.attrib.items() if k != "model"] if hasattr(node, "attrib")
             else [("text", node.text)]) for node in root.iter()]


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_hold_out_configs(case, tmp_path, models, registry):
    path = copy(case["config"], tmp_path)
    before = path.read_bytes()
    arguments = {"registry": registry if case.get("registry") else None, "known_models": case.get("known_models"),
                 "replace_pretrained": case.get("replace_pretrained", False)}
    deployed = [models[key] for key in case["deploy"]]
    if "rule" in case:
        with pytest.raises(ConfigError) as error:
            deploy(path, deployed, **arguments)
        assert error.value.rule == case["rule"], str(error.value)
        if "path" in case:
            assert (error.value.path, error.value.line) == (case["path"], case["line"])
        assert path.read_bytes() == before
        assert beside(path) == []
        return

    result = deploy(path, deployed, **arguments)
    assert [item.path for item in result.changed] == case["changed"]
    assert [item.path for item in result.kept] == case["kept"]
    assert result.written == path.resolve()
    after = path.read_bytes()
    assert beside(path) == []
    # The file holds exactly the returned config, and reloads under the same rules.
    encoding = etree.fromstring(after).getroottree().docinfo.encoding
    assert after.decode(encoding) == result.config.xml
    reloaded = load_config(path, known_models=set(arguments["known_models"] or ()) | set(registry.names())
                           if case.get("registry") or arguments["known_models"] else None)
    assert reloaded == result.config
    assert attributes_without_model(after) == attributes_without_model(before)
    for item in result.changed:
        assert item.after in {model.name for model in deployed}
    # Deploying again finds everything in place.
    again = deploy(path, deployed, **arguments)
    assert (again.changed, again.written, path.read_bytes()) == ((), None, after)
    assert [item.path for item in again.kept] == case["kept"]


def test_comments_and_formatting_survive_byte_for_byte(tmp_path, models):
    path = copy("odd_formatting.xml", tmp_path)
    result = deploy(path, [models["ner"], models["assertion"], models["classification"]])
    assert path.read_bytes() == (CONFIGS / "odd_formatting.deployed.xml").read_bytes()
    assert result.changed[1].before == "ner_demo_annotation_manual_v1.model"
    assert [(item.line, item.after) for item in result.changed] == [
        (10, "ner_demo_annotation_manual_v2"), (14, "ner_demo_annotation_manual_v2"),  # lxml: where the tag ends
        (15, "ner_demo_annotation_manual_v2"), (16, "ner_demo_annotation_manual_v2"),
        (17, "assertion_demo_annotation_manual"), (18, "assertion_demo_annotation_manual"),
        (23, "classification_sentiment_annotation_manual")]


def test_windows_line_endings_survive(tmp_path, models):
    path = tmp_path / "crlf.xml"
    path.write_bytes((CONFIGS / "odd_formatting.xml").read_bytes().replace(b"\n", b"\r\n"))
    deploy(path, [models["ner"], models["assertion"], models["classification"]])
    assert path.read_bytes() == (CONFIGS / "odd_formatting.deployed.xml").read_bytes().replace(b"\n", b"\r\n")


def test_a_latin1_file_stays_latin1(tmp_path, models):
    path = copy("latin1.xml", tmp_path)
    before = path.read_bytes()
    deploy(path, models["ner_latin"])
    insert = b' model="ner_befunde_annotation_manual"'
    assert path.read_bytes() == before.replace(b'#f88"/>', b'#f88"' + insert + b"/>").replace(
        "Größe\"/>".encode("latin-1"), "Größe\"".encode("latin-1") + insert + b"/>")


def test_a_project_gets_its_new_config_and_deploys_chain(tmp_path, models):
    path = copy("demo_mixed.xml", tmp_path)
    export = tmp_path / "export.json"
    export.write_text(json.dumps([{"id": 1, "data": {"text": "no fever"}, "completions": []}]))
    project = load_project(export, config=path, name="demo")

    first = deploy(project, models["ner"])
    assert first.project == attrs.evolve(project, config=first.config)
    assert first.project.config.source == str(path)
    # The project from the first deploy matches the file again, so a second deploy can follow it.
    second = deploy(first.project, models["assertion"])
    assert [item.path.rsplit("=", 1)[1] for item in second.changed] == ["'Absent']", "'Past']"]
    assert load_config(path) == second.project.config
    # The stale project no longer matches its file: deploying from it would lose the assertion model.
    with pytest.raises(ConfigError) as error:
        deploy(project, models["classification"])
    assert error.value.rule == "config_changed_on_disk"
    assert load_config(path) == second.project.config


def test_a_config_from_text_is_not_written_anywhere(tmp_path, models):
    xml = (CONFIGS / "demo_mixed.xml").read_text()
    config = load_config(xml)
    result = deploy(config, models["assertion"])
    assert (result.written, result.project) == (None, None)
    assert config.xml == xml and config.labels_controls[0].labels[4].model is None
    assert [label.model for label in result.config.labels_controls[0].labels][4:] == [
        "assertion_demo_annotation_manual"] * 2
    assert deploy(xml, models["assertion"]).config == result.config
    assert list(tmp_path.rglob("*.xml")) == []


def test_dry_run_checks_but_writes_nothing(tmp_path, models):
    path = copy("demo_mixed.xml", tmp_path)
    before = path.read_bytes()
    result = deploy(str(path), models["ner"], dry_run=True)
    assert (result.written, path.read_bytes()) == (None, before)
    assert len(result.changed) == 4
    with pytest.raises(ConfigError):
        deploy(path, models["ner_absent"], dry_run=True)


def test_models_by_name_from_the_registry(tmp_path, registry):
    path = copy("demo_mixed.xml", tmp_path)
    result = deploy(path, ["ner_demo_annotation_manual_v2.model", "classification_sentiment_annotation_manual"],
                    registry=registry)
    assert [m.name for m in result.models] == ["ner_demo_annotation_manual_v2",
                                               "classification_sentiment_annotation_manual"]
    with pytest.raises(ModelNotFoundError):
        deploy(path, "ner_nope", registry=registry)
    with pytest.raises(ParamsError, match="registry"):
        deploy(path, "ner_demo_annotation_manual_v2")
    with pytest.raises(ParamsError, match="Project, a LabelingConfig"):
        deploy(42, "ner_demo_annotation_manual_v2", registry=registry)


def test_classifier_without_a_card_is_found_by_its_name(tmp_path, models):
    path = copy("demo_mixed.xml", tmp_path)
    cardless = attrs.evolve(models["classification"], path=tmp_path / "elsewhere")
    assert deploy(path, cardless).changed[0].path == "/Choices[@name='sentiment']"
    from_params = attrs.evolve(cardless, name="classification_custom", params={"choices_name": "sentiment"})
    # Another classifier's <Choices>, and not a version of this one: left alone.
    assert [item.before for item in deploy(path, from_params).kept] == ["classification_sentiment_annotation_manual"]
    assert deploy(copy("demo_mixed.xml", tmp_path), from_params).changed[0].after == "classification_custom"
    with pytest.raises(ConfigError, match="cannot tell which <Choices>") as error:
        deploy(path, attrs.evolve(cardless, name="my_classifier"))
    assert error.value.rule == "model_matches_nothing"


def test_five_models_is_the_limit(tmp_path, models):
    assert MAX_MODELS == 5
    path = copy("five_models.xml", tmp_path)
    drug = attrs.evolve(models["ner_drug"], name="ner_drugs")
    with pytest.raises(ConfigError, match="at most 5"):
        deploy(path, drug)
    # Taking over a pretrained model's labels instead keeps the count.
    taken = deploy(path, attrs.evolve(drug, labels=("DRUG", "TREATMENT")), replace_pretrained=True)
    assert {label.model for label in taken.config.labels_controls[0].labels} == {
        "ner_dates", "ner_clinical", "ner_jsl", "ner_drugs", "assertion_dl"}


def test_embeddings_of_registered_models_in_the_config(tmp_path, models):
    root = tmp_path / "other_models"
    other = TrainedModel(name="ner_demo_al", kind="ner", path=root / "ner_demo_al", labels=("TREATMENT",),
                         project="another project", embeddings="biobert")
    other.path.mkdir(parents=True)
    write_model_card(other)
    path = copy("pretrained_labels.xml", tmp_path)
    with pytest.raises(ConfigError) as error:
        deploy(path, models["ner"], registry=ModelRegistry(root), known_models={"ner_clinical": None})
    assert (error.value.rule, error.value.line) == ("mixed_embeddings", 6)
    assert "'biobert'" in error.value.message and "'glove_6b_50d'" in error.value.message


def test_an_unknown_name_says_where_to_declare_it(tmp_path, models, registry):
    path = copy("pretrained_labels.xml", tmp_path)
    with pytest.raises(ConfigError, match="pretrained models go in known_models") as error:
        deploy(path, models["ner"], registry=registry)
    assert (error.value.rule, error.value.line) == ("unknown_model", 4)
    assert deploy(path, models["ner"], registry=registry, known_models={"ner_clinical.model": None}).written


def test_the_file_keeps_its_mode_and_a_symlink_stays_a_link(tmp_path, models):
    path = copy("demo_mixed.xml", tmp_path)
    path.chmod(0o640)
    link = tmp_path / "current.xml"
    link.symlink_to(path)
    result = deploy(link, models["ner"])
    assert result.written == path.resolve()
    assert link.is_symlink() and "ner_demo_annotation_manual_v2" in path.read_text()
    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("call", ["fsync", "replace"])
def test_a_crash_before_the_rename_leaves_the_old_file(tmp_path, models, call):
    """A process killed after writing the new text but before renaming it over the config: the old file stays.

    While the new text is flushed its file has no name, so a crash then leaves nothing; one at the rename leaves
    the named temporary file, which the next deploy removes.
    """
    path = copy("demo_mixed.xml", tmp_path)
    before = path.read_bytes()
    script = f"""
import os
from pathlib import Path
from alab_training.lifecycle.deploy import deploy
from alab_training.model import TrainedModel
os.{call} = lambda *args: os._exit(9)  # the machine dies there
deploy({str(path)!r}, TrainedModel(name="ner_x", kind="ner", path=Path("."), labels=("DATE",)))
"""
    crashed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert crashed.returncode == 9, crashed.stderr
    assert path.read_bytes() == before
    leftovers = beside(path)
    assert len(leftovers) == (call == "replace") and all(name.startswith(".demo_mixed.xml.") for name in leftovers)
    # The next deploy is not disturbed by the leftover, and removes it.
    assert deploy(path, models["ner"]).written == path.resolve()
    assert beside(path) == []


def test_model_names_are_escaped_for_their_quotes(tmp_path):
    path = tmp_path / "config.xml"
    path.write_text("<View><Text name='text' value='$text'/><Labels name='label' toName='text'>"
                    "<Label value='A' model='ner_odd'/><Label value='B'/></Labels></View>")
    odd = TrainedModel(name="ner_odd<&>\"'", kind="ner", path=tmp_path, labels=("A", "B"))
    result = deploy(path, odd, replace_pretrained=True)
    assert [label.model for label in load_config(path).labels_controls[0].labels] == [odd.name, odd.name]
    assert result.config.labels_controls[0].labels[0].model == odd.name
    assert "model='ner_odd&lt;&amp;>\"&apos;'" in path.read_text()
    assert 'model="ner_odd&lt;&amp;>&quot;\'"' in path.read_text()


def test_deploy_result_is_frozen(tmp_path, models):
    result = deploy(copy("demo_mixed.xml", tmp_path), models["ner"])
    assert isinstance(result, DeployResult)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        result.written = None


# --- property: only model= attributes change, and deploying twice changes nothing more ----------------------------

_SPACE = st.sampled_from([" ", "  ", "\n      ", "\t", "\r\n    "])
_VALUE_CHARS = st.sampled_from(list("abcXYZ_-äé&<>\"' 1"))
_OWN, _PRETRAINED, _NEW = "ner_prop_annotation_manual_v1.model", "ner_clinical", "ner_prop_annotation_manual_v2"


def _escape(value: str, quote: str) -> str:
    value = value.replace("&", "&amp;").replace("<", "&lt;")
    return value.replace(quote, "&quot;" if quote == '"' else "&apos;")


@st.composite
def _labels(draw):
    values = draw(st.lists(st.text(_VALUE_CHARS, min_size=1, max_size=6).filter(lambda v: v.strip()),
                           min_size=1, max_size=6, unique=True))
    labels = []
    for value in values:
        attributes = [("value", value), *draw(st.lists(st.tuples(st.sampled_from(["background", "hotkey", "alias"]),
                                                                  st.text(_VALUE_CHARS, max_size=4)),
                                                        max_size=2, unique_by=lambda a: a[0]))]
        model = draw(st.sampled_from([None, _OWN, _PRETRAINED]))
        if model is not None:
            attributes.insert(draw(st.integers(0, len(attributes))), ("model", model))
        attributes = [(name, text, draw(st.sampled_from("\"'")), draw(_SPACE), draw(st.sampled_from(["=", " = "])))
                      for name, text in attributes]
        labels.append({"value": value, "attributes": attributes, "tail": draw(st.sampled_from(["", " ", "\n  "])),
                       "close": draw(st.sampled_from(["/>", "></Label>"])),
                       "comment": draw(st.sampled_from(["", "<!-- <Label value='x'/> -->", "\n"]))})
    return labels


def _render(labels, models: dict[str, str]) -> str:
    """The config text as the spec says deploy must leave it: ``models`` maps a label value to its model."""
    parts = [("<?xml version='1.0' encoding='UTF-8'?>\n<!-- c -->\n<View>\n  <Text name='text' value='$text'/>\n"
              "  <Labels name=\"label\" toName=\"text\">\n")]
    for label in labels:
        tag = "<Label"
        present = False
        for name, text, quote, space, equals in label["attributes"]:
            if name == "model":
                present, text = True, models.get(label["value"], text)
            tag += f"{space}{name}{equals}{quote}{_escape(text, quote)}{quote}"
        if not present and label["value"] in models:
            tag += f' model="{models[label["value"]]}"'
        parts.append(f"    {tag}{label['tail']}{label['close']}{label['comment']}\n")
    return "".join(parts) + "  </Labels>\n</View>\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=_labels(), data=st.data())
def test_property_only_model_attributes_change(tmp_path_factory, labels, data):
    values = [label["value"] for label in labels]
    predicted = data.draw(st.lists(st.sampled_from(values), min_size=1, unique=True))
    model = TrainedModel(name=_NEW, kind="ner", path=Path("."), labels=tuple(predicted))
    path = tmp_path_factory.mktemp("prop") / "config.xml"
    path.write_bytes(_render(labels, {}).encode())
    current = {label["value"]: next((a[1] for a in label["attributes"] if a[0] == "model"), None)
               for label in labels}
    expected = {value: _NEW for value in predicted if current[value] != _PRETRAINED}

    result = deploy(path, model)
    assert path.read_bytes() == _render(labels, expected).encode()
    assert sorted(item.path for item in result.kept) == sorted(
        f"/Labels[@name='label']/Label[@value={value!r}]" for value in predicted if current[value] == _PRETRAINED)
    models = {label.value: label.model for label in result.config.labels_controls[0].labels}
    assert models == {**current, **expected}
    again = deploy(path, model)
    assert (again.changed, again.written) == ((), None)
    assert path.read_bytes() == _render(labels, expected).encode()

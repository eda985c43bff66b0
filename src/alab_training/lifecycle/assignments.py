"""Which elements of a labeling config a deployed model takes: its labels, or its ``<Choices>``; and the rules
across models that the config's own rules cannot see (how many, which embeddings).

:mod:`~alab_training.lifecycle.deploy` reads and writes the config; everything here works on its text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs
from lxml import etree

from alab_training.config import LabelingConfig, bare_model_name, parse_xml
from alab_training.config.parser import config_from_tree, element_path, is_true
from alab_training.config.rewrite import set_model_attributes
from alab_training.errors import ConfigError, ModelCardError
from alab_training.model import TrainedModel
from alab_training.model_card import read_model_card

__all__ = ["MAX_MODELS", "ModelAssignment", "check_models", "checked_config", "encoded", "planned_text"]

#: Annotation Lab serves at most five different models per pre-annotation server.
MAX_MODELS = 5

_VERSION = re.compile(r"_v[0-9]+\Z")
_CLASSIFIER_NAME = re.compile(r"classification_(.+)_annotation_manual(?:_v[0-9]+)?")


@attrs.frozen
class ModelAssignment:
    """One element's ``model=`` attribute, as deploy found and left it.

    Attributes:
        path: the element, e.g. ``/Labels[@name='label']/Label[@value='PROBLEM']`` (the form of
            :class:`~alab_training.errors.ConfigError` paths).
        line: its line in the config.
        before: the model it named before, as written there (``.model`` suffix included), or ``None``.
        after: the model it names now.
    """

    path: str
    line: int | None
    before: str | None
    after: str | None


def encoded(text: str, encoding: str) -> bytes:
    """The config's text in its file's encoding; a model name the encoding lacks (``€`` in ISO-8859-1) becomes a
    character reference, which XML reads back as the character."""
    return text.encode(encoding, "xmlcharrefreplace")


def planned_text(text: str, encoding: str, models: tuple[TrainedModel, ...], registered: Mapping[str, TrainedModel],
                  replace_pretrained: bool) -> tuple[str, list[ModelAssignment], list[ModelAssignment]]:
    """The config text with every model's labels assigned, one model after the other, and what changed or stayed."""
    new_text, changed, kept = text, [], []
    for trained in models:
        edits = _Edits(trained, registered, replace_pretrained)
        edits.plan(parse_xml(encoded(new_text, encoding)).getroot())
        new_text = set_model_attributes(new_text, edits.values)
        changed += edits.changed
        kept += edits.kept
    return new_text, changed, kept


def checked_config(text: str, encoding: str, source: str | None, known: set[str] | None) -> LabelingConfig:
    """The rewritten config, held to the seed's rules (and, with ``known``, to known model names)."""
    try:
        return config_from_tree(parse_xml(encoded(text, encoding)), text, known_models=known, source=source)
    except ConfigError as exc:
        if exc.rule != "unknown_model":
            raise
        raise ConfigError(f"{exc.message}: neither the registry nor known_models has it (pretrained models go in "
                          "known_models, name → embeddings)", path=exc.path, line=exc.line, rule=exc.rule) from exc


def _base(name: str) -> str:
    return _VERSION.sub("", bare_model_name(name))


class _Edits:
    """Which elements' ``model=`` one model's deploy sets, found on a parse of the current text."""

    def __init__(self, model: TrainedModel, registered: Mapping[str, TrainedModel],
                 replace_pretrained: bool) -> None:
        self.model = model
        self.registered = registered
        self.replace_pretrained = replace_pretrained
        #: element number (document order) → the new ``model=`` value
        self.values: dict[int, str] = {}
        self.changed: list[ModelAssignment] = []
        self.kept: list[ModelAssignment] = []

    def plan(self, root: etree._Element) -> None:
        matched = 0
        choices_name = self._choices_name() if self.model.kind == "classification" else None
        for number, element in enumerate(root.iter(etree.Element)):
            path = self._target_path(element, choices_name)
            if path is not None:
                matched += 1
                self._assign(number, element, path)
        if not matched:
            raise ConfigError(self._nothing_matched(choices_name), rule="model_matches_nothing")

    def _target_path(self, element: etree._Element, choices_name: str | None) -> str | None:
        """The element's path when the model predicts it; refuses a label of the wrong sort."""
        model = self.model
        if model.kind == "classification":
            if element.tag != "Choices" or (element.get("name") or "").strip() != choices_name:
                return None
            offered = {choice.get("value") for choice in element.iter("Choice")}
            # A <Choices> of that name that offers none of the classes is not the one the model learnt.
            return element_path("", "Choices", "name", choices_name) if (
                not model.labels or offered & set(model.labels)) else None
        control = next(element.iterancestors("Labels"), None) if element.tag == "Label" else None
        if control is None or element.get("value") not in model.labels:
            return None
        path = element_path(element_path("", "Labels", "name", (control.get("name") or "").strip()), "Label", "value",
                          element.get("value"))
        assertion = is_true(element, "assertion")
        if model.kind == "ner" and assertion:
            raise ConfigError(f"the NER model {model.name!r} predicts {element.get('value')!r}, an assertion label "
                              "here; an assertion label cannot be predicted by an NER model", path=path,
                              line=element.sourceline, rule="assertion_label_with_ner_model")
        if model.kind == "assertion" and not assertion:
            raise ConfigError(f"the assertion model {model.name!r} predicts {element.get('value')!r}, an entity "
                              "label here; an entity label cannot be predicted by an assertion model", path=path,
                              line=element.sourceline, rule="entity_label_with_assertion_model")
        return path

    def _assign(self, number: int, element: etree._Element, path: str) -> None:
        current = (element.get("model") or "").strip() or None
        if current is not None and bare_model_name(current) == self.model.name:
            return
        if current is not None and not self.replace_pretrained and not self._ours(current):
            self.kept.append(ModelAssignment(path, element.sourceline, current, current))
            return
        self.values[number] = self.model.name
        self.changed.append(ModelAssignment(path, element.sourceline, current, self.model.name))

    def _ours(self, other: str) -> bool:
        """Whether ``other`` is a version of the deployed model, or (by the registry) of its project and kind."""
        if _base(other) == _base(self.model.name):
            return True
        owner = self.registered.get(bare_model_name(other))
        return (owner is not None and owner.kind == self.model.kind and owner.project is not None
                and self.model.project is not None and owner.project.casefold() == self.model.project.casefold())

    def _choices_name(self) -> str | None:
        try:
            _, extra = read_model_card(self.model.path)
        except ModelCardError:
            extra = {}
        name = extra.get("from_name") or self.model.params.get("choices_name")
        if name:
            return str(name)
        # Trainers sanitise the name (anything but [A-Za-z0-9_] becomes "_"), so this is the last resort.
        named = _CLASSIFIER_NAME.fullmatch(self.model.name)
        return named.group(1) if named else None

    def _nothing_matched(self, choices_name: str | None) -> str:
        model = self.model
        if model.kind != "classification":
            sort = "entity" if model.kind == "ner" else "assertion"
            return (f"the {model.kind} model {model.name!r} predicts {', '.join(model.labels) or 'no label'}; the "
                    f"config has no such {sort} <Label>")
        if choices_name is None:
            return (f"cannot tell which <Choices> the classification model {model.name!r} was trained on (its card "
                    "has no from_name)")
        return (f"the classification model {model.name!r} was trained on <Choices name={choices_name!r}> with "
                f"classes {', '.join(model.labels)}; the config has no such <Choices> offering them")


def check_models(config: LabelingConfig, models: tuple[TrainedModel, ...],
                  embeddings: Mapping[str, str | None]) -> None:
    """The rules across models that :func:`check_config` cannot see: how many, and on which embeddings."""
    places: dict[str, tuple[str, int | None]] = {}
    for control in config.labels_controls:
        for label in control.labels:
            if label.model:
                places.setdefault(bare_model_name(label.model), (
                    element_path(element_path("", "Labels", "name", control.name), "Label", "value", label.value),
                    label.line))
    for choices in config.choices_controls:
        if choices.model:
            places.setdefault(bare_model_name(choices.model),
                              (element_path("", "Choices", "name", choices.name), choices.line))
    if len(places) > MAX_MODELS:
        newest = next(name for name in (*(m.name for m in models), *places) if name in places)
        path, line = places[newest]
        raise ConfigError(f"the config would use {len(places)} models ({', '.join(sorted(places))}); a "
                          f"pre-annotation server serves at most {MAX_MODELS}", path=path, line=line,
                          rule="too_many_models")
    families = {name: embeddings[name] for name in places if embeddings.get(name)}
    deployed = [m.name for m in models if m.name in families]
    anchor = deployed[0] if deployed else next(iter(families), None)
    for name, family in families.items():
        if family != families[anchor]:
            path, line = places[name]
            raise ConfigError(f"{name!r} uses the embeddings {family!r}, {anchor!r} uses {families[anchor]!r}: "
                              "models trained on different embeddings cannot be used together in one project",
                              path=path, line=line, rule="mixed_embeddings")

"""Deploying trained models: point the labeling config's ``model=`` attributes at them.

What changes, by the model's kind:

- ``ner``: every ``<Label>`` (inside a ``<Labels>``) whose value the model predicts;
- ``assertion``: every ``<Label assertion="true">`` whose value the model predicts;
- ``classification``: the ``<Choices>`` the model was trained on (its card's ``from_name``; else
  ``params.choices_name``; else the ``<name>`` in ``classification_<name>_annotation_manual``).

A label that already names another model keeps it when that model is *someone else's* — a pretrained model such
as ``ner_clinical`` — and the result reports it in ``kept``; it is taken over only when that model is an earlier
(or later) version of the one deployed (the same name once ``_vN`` and ``.model`` are stripped) or, with a
registry, a model of the same project and kind. ``replace_pretrained=True`` takes every predicted label over.

Everything is checked before anything is written: the seed's rules on the rewritten config
(:func:`~alab_training.config.check_config`), then at most :data:`MAX_MODELS` models, one embeddings family, and
— with a registry or ``known_models`` — no unknown model names. The text is rewritten in place, attribute by
attribute, so comments, attribute order, quotes, whitespace and line endings are kept byte for byte; a file is
replaced atomically (a crash leaves the old or the new file, never a mix).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
from lxml import etree

from alab_training.config import LabelingConfig, bare_model_name, load_config, parse_xml
from alab_training.config.parser import config_from_tree, element_path, is_true
from alab_training.config.rewrite import set_model_attributes
from alab_training.errors import ConfigError, ModelCardError, ParamsError
from alab_training.files import write_atomically
from alab_training.lifecycle.registry import ModelRegistry
from alab_training.model import Project, TrainedModel
from alab_training.model_card import read_model_card

__all__ = ["MAX_MODELS", "DeployResult", "ModelAssignment", "deploy"]

_LOG = logging.getLogger(__name__)

#: Annotation Lab serves at most five different models per pre-annotation server.
MAX_MODELS = 5

_DEPLOYABLE = ("ner", "assertion", "classification")
_VERSION = re.compile(r"_v\d+$")
_CLASSIFIER_NAME = re.compile(r"classification_(.+)_annotation_manual(?:_v\d+)?")


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


@attrs.frozen
class DeployResult:
    """What :func:`deploy` did.

    Attributes:
        config: the rewritten config (its ``source`` is the file, when there is one).
        models: the deployed models.
        changed: the elements whose ``model=`` now names a deployed model.
        kept: the elements a deployed model predicts that stay with another (pretrained) model.
        written: the file rewritten, or ``None`` (no file, nothing changed, or a dry run).
        project: the project with the new config, when deploy was given a project.
    """

    config: LabelingConfig
    models: tuple[TrainedModel, ...]
    changed: tuple[ModelAssignment, ...] = ()
    kept: tuple[ModelAssignment, ...] = ()
    written: Path | None = None
    project: Project | None = None


def deploy(
    target: Project | LabelingConfig | str | os.PathLike[str],
    model: TrainedModel | str | Iterable[TrainedModel | str],
    *,
    registry: ModelRegistry | None = None,
    known_models: Mapping[str, str | None] | None = None,
    replace_pretrained: bool = False,
    dry_run: bool = False,
) -> DeployResult:
    """Point the labeling config at trained models; refuse, changing nothing, when the result would be invalid.

    Several models (a mixed project's NER, assertion and classification) are deployed all or nothing.

    Args:
        target: a project, a loaded config, a config file's path, or config XML text. The file — the path, or
            the file a config or a project's config was loaded from — is rewritten; XML text or a config built
            from text is not written anywhere (the result holds the new config).
        model: a trained model, a registry name, or several of these.
        registry: where names are looked up; its models also count as known (names and embeddings).
        known_models: other models that may appear in the config — pretrained ones, say — as name → embeddings
            storage reference (``None`` when unknown). With this or ``registry``, a ``model=`` naming anything
            else is refused.
        replace_pretrained: also take over labels that another project's or a pretrained model predicts.
        dry_run: check and compute everything, write nothing.

    Raises:
        ConfigError: the deploy would break a rule (``rule`` says which, ``path`` and ``line`` where), or the
            config file changed since it was loaded, or cannot be read or written.
        ModelNotFoundError: a name the registry does not have.
        ParamsError: a name with no registry, no model, or a target or model of another type.
    """
    models = _resolve_models(model, registry)
    config, project = _resolve_target(target)
    text, encoding = _current_text(config)
    registered = {m.name: m for m in registry.list()} if registry is not None else {}
    # model name → embeddings storage reference, for every model whose embeddings are known
    embeddings = {name: m.embeddings for name, m in registered.items()}
    embeddings.update({bare_model_name(name): ref for name, ref in (known_models or {}).items()})
    embeddings.update({m.name: m.embeddings for m in models})
    known = set(embeddings) if registry is not None or known_models is not None else None

    new_text, changed, kept = _planned_text(text, encoding, models, registered, replace_pretrained)
    new_config = _checked_config(new_text, encoding, config.source, known)
    _check_models(new_config, models, embeddings)

    written = None
    if config.source is not None and new_text != text and not dry_run:
        written = _write_atomically(Path(config.source), new_text.encode(encoding))
    for item in changed:
        _LOG.info("deploy: %s now uses %s (was %s)", item.path, item.after, item.before or "none")
    for item in kept:
        _LOG.info("deploy: %s stays with %s (another model's label)", item.path, item.before)
    return DeployResult(config=new_config, models=models, changed=tuple(changed), kept=tuple(kept),
                        written=written, project=attrs.evolve(project, config=new_config) if project else None)


def _planned_text(text: str, encoding: str, models: tuple[TrainedModel, ...], registered: Mapping[str, TrainedModel],
                  replace_pretrained: bool) -> tuple[str, list[ModelAssignment], list[ModelAssignment]]:
    """The config text with every model's labels assigned, one model after the other, and what changed or stayed."""
    new_text, changed, kept = text, [], []
    for trained in models:
        edits = _Edits(trained, registered, replace_pretrained)
        edits.plan(parse_xml(new_text.encode(encoding)).getroot())
        new_text = set_model_attributes(new_text, edits.values)
        changed += edits.changed
        kept += edits.kept
    return new_text, changed, kept


def _checked_config(text: str, encoding: str, source: str | None, known: set[str] | None) -> LabelingConfig:
    """The rewritten config, held to the seed's rules (and, with ``known``, to known model names)."""
    try:
        return config_from_tree(parse_xml(text.encode(encoding)), text, known_models=known, source=source)
    except ConfigError as exc:
        if exc.rule != "unknown_model":
            raise
        raise ConfigError(f"{exc.message}: neither the registry nor known_models has it (pretrained models go in "
                          "known_models, name → embeddings)", path=exc.path, line=exc.line, rule=exc.rule) from exc


def _base(name: str) -> str:
    return _VERSION.sub("", bare_model_name(name))


def _resolve_models(model: Any, registry: ModelRegistry | None) -> tuple[TrainedModel, ...]:
    items = [model] if isinstance(model, (TrainedModel, str)) else list(model)
    resolved = []
    for item in items:
        if isinstance(item, TrainedModel):
            resolved.append(item)
        elif isinstance(item, str):
            if registry is None:
                raise ParamsError(f"deploying the model {item!r} by name needs registry=ModelRegistry(folder)",
                                  field="registry", value=None)
            resolved.append(registry.get(item))
        else:
            raise ParamsError(f"expected a TrainedModel or a model name, got {type(item).__name__}", field="model",
                              value=item)
    if not resolved:
        raise ParamsError("deploy needs at least one model", field="model", value=model)
    for trained in resolved:
        if trained.kind not in _DEPLOYABLE:
            raise ConfigError(f"{trained.name!r} is a {trained.kind!r} model; a labeling config can point at "
                              f"{', '.join(_DEPLOYABLE)} models", rule="undeployable_model")
    return tuple(resolved)


def _resolve_target(target: Any) -> tuple[LabelingConfig, Project | None]:
    if isinstance(target, Project):
        return target.config, target
    if isinstance(target, LabelingConfig):
        return target, None
    if isinstance(target, (str, bytes, os.PathLike)):
        return load_config(target), None
    raise ParamsError(f"expected a Project, a LabelingConfig or a config path, got {type(target).__name__}",
                      field="target", value=target)


def _current_text(config: LabelingConfig) -> tuple[str, str]:
    """The config's text and encoding; from its file, when it has one, which must still hold what was loaded."""
    if config.source is None:
        return config.xml, "utf-8"
    path = Path(config.source)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the labeling config {path}: {exc.strerror or exc}") from exc
    encoding = parse_xml(raw).docinfo.encoding or "utf-8"
    text = raw.decode(encoding)
    if text != config.xml:
        # Rewriting the loaded text would throw away whatever was saved into the file since.
        raise ConfigError(f"{path} changed since it was loaded; load it again and deploy onto that (nothing "
                          "was written)", rule="config_changed_on_disk")
    return text, encoding


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


def _check_models(config: LabelingConfig, models: tuple[TrainedModel, ...],
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


def _write_atomically(path: Path, data: bytes) -> Path:
    try:
        return write_atomically(path, data)
    except OSError as exc:
        raise ConfigError(f"cannot write the labeling config {path}: {exc.strerror or exc} (it is unchanged)"
                          ) from exc

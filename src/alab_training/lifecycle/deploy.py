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

A config file is read, checked and rewritten under its advisory lock (:func:`alab_training.files.locked`, a
sidecar ``.<name>.lock``): two deploys to one file, or a deploy and a host that takes the lock too, follow one
another, and the second sees what the first wrote. Which elements a model takes, and the rules across models,
are :mod:`~alab_training.lifecycle.assignments`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from alab_training.arguments import expect, expect_bool, expect_names
from alab_training.config import LabelingConfig, bare_model_name, load_config, parse_xml
from alab_training.config.parser import MAX_CONFIG_BYTES
from alab_training.errors import ConfigError, FileError, ParamsError
from alab_training.files import locked, read_bytes_bounded, regular_file_status, write_atomically
from alab_training.lifecycle.assignments import (
    MAX_MODELS,
    ModelAssignment,
    check_models,
    checked_config,
    encoded,
    planned_text,
)
from alab_training.lifecycle.registry import ModelRegistry
from alab_training.model import Project, TrainedModel

__all__ = ["MAX_MODELS", "DeployResult", "ModelAssignment", "deploy"]

_LOG = logging.getLogger(__name__)

_DEPLOYABLE = ("ner", "assertion", "classification")


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
    expect(registry, "registry", ModelRegistry, "a ModelRegistry", optional=True)
    expect_names(known_models, "known_models", values=(str, type(None)), optional=True)
    expect_bool(replace_pretrained, "replace_pretrained")
    expect_bool(dry_run, "dry_run")
    models = _resolve_models(model, registry)
    registered = {m.name: m for m in registry.list()} if registry is not None else {}
    # model name → embeddings storage reference, for every model whose embeddings are known
    embeddings = {name: m.embeddings for name, m in registered.items()}
    embeddings.update({bare_model_name(name): ref for name, ref in (known_models or {}).items()})
    embeddings.update({m.name: m.embeddings for m in models})
    known = set(embeddings) if registry is not None or known_models is not None else None
    plan = _Plan(models, registered, embeddings, known, replace_pretrained)
    source = _source_of(target)
    if source is None or dry_run or not _is_file(source):  # no file to write: reading it reports the problem
        result = plan.apply(*_resolve_target(target), write=False)
    else:
        # Read, check and write under the config's lock: a deploy (or a host) that writes between our read and
        # our write would otherwise be lost, and one that wrote before is caught by the check.
        try:
            with locked(source):
                result = plan.apply(*_resolve_target(target), write=True)
        except FileError as exc:
            raise ConfigError(f"cannot lock the labeling config {source}: {exc.message} (nothing was written)"
                              ) from exc
    for item in result.changed:
        _LOG.info("deploy: %s now uses %s (was %s)", item.path, item.after, item.before or "none")
    for item in result.kept:
        _LOG.info("deploy: %s stays with %s (another model's label)", item.path, item.before)
    return result


@attrs.frozen
class _Plan:
    """What one deploy sets, applied to the config as it is when its lock is held."""

    models: tuple[TrainedModel, ...]
    registered: Mapping[str, TrainedModel]
    embeddings: Mapping[str, str | None]
    known: set[str] | None
    replace_pretrained: bool

    def apply(self, config: LabelingConfig, project: Project | None, *, write: bool) -> DeployResult:
        """Rewrite the config's text, check the result, and (``write``) replace its file."""
        text, encoding = _current_text(config)
        new_text, changed, kept = planned_text(text, encoding, self.models, self.registered, self.replace_pretrained)
        new_config = checked_config(new_text, encoding, config.source, self.known)
        check_models(new_config, self.models, self.embeddings)
        written = None
        if write and config.source is not None and new_text != text:
            written = _write_atomically(Path(config.source), encoded(new_text, encoding))
        return DeployResult(config=new_config, models=self.models, changed=tuple(changed), kept=tuple(kept),
                            written=written, project=attrs.evolve(project, config=new_config) if project else None)


def _resolve_models(model: Any, registry: ModelRegistry | None) -> tuple[TrainedModel, ...]:
    if isinstance(model, (TrainedModel, str)):
        items = [model]
    elif isinstance(model, Iterable) and not isinstance(model, (bytes, Mapping)):
        items = list(model)
    else:
        raise ParamsError(f"expected a TrainedModel, a model name or several, got {type(model).__name__}",
                          field="model", value=model)
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


def _source_of(target: Any) -> str | os.PathLike[str] | None:
    """The file deploying to ``target`` rewrites, known before it is read: what the lock is taken on."""
    if isinstance(target, Project):
        return target.config.source
    if isinstance(target, LabelingConfig):
        return target.source
    if isinstance(target, str) and target.lstrip().startswith("<"):
        return None  # XML text
    if isinstance(target, (str, os.PathLike)):
        return target
    return None  # bytes of XML, or a wrong type that _resolve_target names


def _is_file(source: str | os.PathLike[str]) -> bool:
    try:
        return regular_file_status(source) is not None
    except FileError:  # a FIFO, a path with a NUL...: loading the config says what is wrong with it
        return False


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
        raw = read_bytes_bounded(path, MAX_CONFIG_BYTES)
    except FileError as exc:
        raise ConfigError(f"cannot read the labeling config {path}: {exc.message}") from exc
    encoding = parse_xml(raw).docinfo.encoding or "utf-8"
    try:
        text = raw.decode(encoding)
    except (LookupError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot decode the labeling config {path}: {exc}") from exc
    if text != config.xml:
        # Rewriting the loaded text would throw away whatever was saved into the file since.
        raise ConfigError(f"{path} changed since it was loaded; load it again and deploy onto that (nothing "
                          "was written)", rule="config_changed_on_disk")
    return text, encoding


def _write_atomically(path: Path, data: bytes) -> Path:
    try:
        return write_atomically(path, data)
    except FileError as exc:  # read-only, hard-linked, a full disk...: the file is as it was
        raise ConfigError(f"cannot write the labeling config {path}: {exc.message} (it is unchanged)") from exc

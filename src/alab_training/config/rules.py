"""The seed's validation rules for labeling configs.

Annotation Lab refuses to save a config that breaks these; we refuse to load one, so that no training or
deployment starts from a config the annotation tool would reject.
"""

from __future__ import annotations

from alab_training.config.controls import LabelDef, LabelingConfig, LabelsControl
from alab_training.errors import ConfigError

__all__ = ["bare_model_name", "check_config", "model_kind"]

_KIND_PREFIXES = (("assertion", "assertion"), ("ner", "ner"), ("classification", "classification"),
                  ("classifier", "classification"))


def bare_model_name(name: str) -> str:
    """A model name as a config may write it, without the ``.model`` suffix Annotation Lab sometimes adds."""
    return name.strip().removesuffix(".model")


def model_kind(model_name: str) -> str | None:
    """The kind of a model from its name (``ner_…``, ``assertion_…``, ``classification_…``), if it says.

    Annotation Lab names every trained model this way and writes names with a ``.model`` suffix at times.
    """
    name = model_name.removesuffix(".model").lower()
    for prefix, kind in _KIND_PREFIXES:
        if name == prefix or name.startswith(prefix + "_"):
            return kind
    return None


def check_config(config: LabelingConfig, *, known_models: set[str] | None = None) -> None:
    """Raise :class:`ConfigError` for the first broken rule.

    Rules: object names referenced by ``toName`` exist; a label is not both an entity and an assertion status;
    an assertion label is never predicted by an NER model (nor an entity by an assertion model); one project
    uses at most one assertion model; with ``known_models``, every ``model=`` names a known model.
    """
    _check_targets(config)
    _check_labels(config)
    if known_models is not None:
        _check_known_models(config, {bare_model_name(m) for m in known_models})


def _check_targets(config: LabelingConfig) -> None:
    objects = {name for name, _ in config.text_objects}
    for control in (*config.labels_controls, *config.choices_controls):
        tag = "Labels" if isinstance(control, LabelsControl) else "Choices"
        targets = [t.strip() for t in control.to_name.split(",") if t.strip()]
        if not targets:
            raise ConfigError(f"<{tag} name={control.name!r}> needs toName", path=f"/{tag}[@name={control.name!r}]",
                              line=control.line, rule="missing_to_name")
        missing = [t for t in targets if t not in objects]
        if missing:
            has = f"the config has: {', '.join(sorted(objects))}" if objects else "the config has none"
            raise ConfigError(f"toName={missing[0]!r} names no <Text>/<HyperText> object ({has})",
                              path=f"/{tag}[@name={control.name!r}]", line=control.line, rule="unknown_to_name")


def _check_labels(config: LabelingConfig) -> None:
    flags: dict[str, bool] = {}
    assertion_models: dict[str, int | None] = {}
    for control in config.labels_controls:
        for label in control.labels:
            path = f"/Labels[@name={control.name!r}]/Label[@value={label.value!r}]"
            if flags.setdefault(label.value, label.assertion) != label.assertion:
                raise ConfigError(f"label {label.value!r} is an assertion status in one control and an entity in "
                                  "another", path=path, line=label.line, rule="assertion_flag_conflict")
            if label.model is None:
                continue
            _check_label_model(label, path)
            if label.assertion:
                assertion_models.setdefault(bare_model_name(label.model), label.line)
    if len(assertion_models) > 1:
        names = ", ".join(sorted(assertion_models))
        raise ConfigError(f"a project may use one assertion model; this config names {len(assertion_models)}: {names}",
                          path="/Labels", line=max(v or 0 for v in assertion_models.values()) or None,
                          rule="several_assertion_models")


def _check_label_model(label: LabelDef, path: str) -> None:
    """A label's ``model=`` must be of a kind that can predict it."""
    kind = model_kind(label.model)
    if label.assertion and kind == "ner":
        raise ConfigError(f"assertion label {label.value!r} cannot be predicted by the NER model {label.model!r}",
                          path=path, line=label.line, rule="assertion_label_with_ner_model")
    if label.assertion and kind == "classification":
        raise ConfigError(f"assertion label {label.value!r} cannot be predicted by the classification model "
                          f"{label.model!r}", path=path, line=label.line, rule="assertion_label_with_classifier")
    if not label.assertion and kind == "assertion":
        raise ConfigError(f"entity label {label.value!r} cannot be predicted by the assertion model {label.model!r}",
                          path=path, line=label.line, rule="entity_label_with_assertion_model")


def _check_known_models(config: LabelingConfig, known: set[str]) -> None:
    for control in config.labels_controls:
        for label in control.labels:
            if label.model and bare_model_name(label.model) not in known:
                raise ConfigError(f"unknown model {label.model!r}",
                                  path=f"/Labels[@name={control.name!r}]/Label[@value={label.value!r}]",
                                  line=label.line, rule="unknown_model")
    for choices in config.choices_controls:
        if choices.model and bare_model_name(choices.model) not in known:
            raise ConfigError(f"unknown model {choices.model!r}", path=f"/Choices[@name={choices.name!r}]",
                              line=choices.line, rule="unknown_model")

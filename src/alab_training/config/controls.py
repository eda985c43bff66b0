"""The labeling config as value objects: which labels, which choices, which types can train."""

from __future__ import annotations

import attrs

from alab_training.errors import ConfigError

__all__ = [
    "ChoicesControl",
    "LabelDef",
    "LabelingConfig",
    "LabelsControl",
    "TRAINING_TYPES",
]

#: Training types the built-in trainers serve, in the order a mixed project trains them.
TRAINING_TYPES = ("ner", "assertion", "classification")


@attrs.frozen
class LabelDef:
    """A ``<Label>``: an NER entity type, or an assertion status when ``assertion`` is set."""

    value: str
    assertion: bool = False
    #: The model that pre-annotates this label (``model="…"``), if any.
    model: str | None = None
    line: int | None = None


@attrs.frozen
class LabelsControl:
    """A ``<Labels name toName>`` control and its labels."""

    name: str
    to_name: str
    labels: tuple[LabelDef, ...]
    line: int | None = None

    @property
    def ner_labels(self) -> tuple[str, ...]:
        """The entity labels of this control."""
        return tuple(label.value for label in self.labels if not label.assertion)

    @property
    def assertion_labels(self) -> tuple[str, ...]:
        """The assertion-status labels (``assertion="true"``) of this control."""
        return tuple(label.value for label in self.labels if label.assertion)


@attrs.frozen
class ChoicesControl:
    """A ``<Choices name toName choice train>`` control: one classifier."""

    name: str
    to_name: str
    values: tuple[str, ...]
    #: ``single`` or ``multiple``.
    choice: str = "single"
    train: bool = False
    model: str | None = None
    line: int | None = None

    @property
    def multi_label(self) -> bool:
        """Whether several choices may be picked (``choice="multiple"``)."""
        return self.choice == "multiple"


@attrs.frozen
class LabelingConfig:
    """A parsed, validated labeling config.

    ``xml`` is the original text, kept byte-for-byte so that deploying a model can rewrite ``model=``
    attributes and write the config back with its formatting and comments intact.
    """

    xml: str = attrs.field(repr=False)
    labels_controls: tuple[LabelsControl, ...] = ()
    choices_controls: tuple[ChoicesControl, ...] = ()
    relation_labels: tuple[str, ...] = ()
    #: ``(object tag name, data key)`` pairs, e.g. ``("text", "text")`` for ``<Text name="text" value="$text"/>``.
    text_objects: tuple[tuple[str, str], ...] = ()
    #: The file it was read from, if any: where :func:`~alab_training.deploy` writes the rewritten config.
    source: str | None = attrs.field(default=None, eq=False)

    @property
    def ner_labels(self) -> tuple[str, ...]:
        """Every entity label, over all ``<Labels>``, in config order."""
        return tuple(dict.fromkeys(v for c in self.labels_controls for v in c.ner_labels))

    @property
    def assertion_labels(self) -> tuple[str, ...]:
        """Every assertion-status label, over all ``<Labels>``, in config order."""
        return tuple(dict.fromkeys(v for c in self.labels_controls for v in c.assertion_labels))

    @property
    def text_key(self) -> str:
        """The ``data`` key that holds the task text (``$text`` unless the config says otherwise)."""
        return self.text_objects[0][1] if self.text_objects else "text"

    def labels_control(self, name: str) -> LabelsControl | None:
        """The ``<Labels>`` called ``name``, or ``None``."""
        return next((c for c in self.labels_controls if c.name == name), None)

    def choices_control(self, name: str) -> ChoicesControl | None:
        """The ``<Choices>`` called ``name``, or ``None``."""
        return next((c for c in self.choices_controls if c.name == name), None)

    def training_types(self) -> set[str]:
        """The training types this config supports, e.g. ``{"ner", "assertion", "classification"}``.

        Assertion status needs NER spans to attach to, so it is offered only next to NER labels.
        """
        types = set()
        if self.ner_labels:
            types.add("ner")
            if self.assertion_labels:
                types.add("assertion")
        if any(len(c.values) >= 1 for c in self.choices_controls):
            types.add("classification")
        return types

    def choices_to_train(self, choices_name: str | None = None) -> ChoicesControl:
        """The ``<Choices>`` a classification training uses.

        ``choices_name`` if given; else the one marked ``train="true"`` (alphabetically first if several are);
        else the alphabetically first ``name`` — the Annotation Lab rule.

        Raises:
            ConfigError: the config has no ``<Choices>``, or none called ``choices_name``.
        """
        if not self.choices_controls:
            raise ConfigError("the config has no <Choices> to train a classifier on", rule="no_choices")
        if choices_name is not None:
            control = self.choices_control(choices_name)
            if control is None:
                known = ", ".join(sorted(c.name for c in self.choices_controls))
                raise ConfigError(
                    f"no <Choices name={choices_name!r}> in the config (it has: {known})", rule="unknown_choices"
                )
            return control
        marked = [c for c in self.choices_controls if c.train]
        return min(marked or self.choices_controls, key=lambda c: c.name)

"""Training parameters: one frozen, validated value object for every trainer.

The Spark NLP knobs (``epochs``, ``learning_rate``, ``decay``, ``dropout``, ``batch_size``) default to ``None``,
meaning "the training type's own default" — NerDL and ClassifierDL differ (e.g. batch size 8 vs 64), so one number
here could not honour both. Each trainer documents its defaults.

A trainer's own parameters go in ``options={training_type: {...}}`` and are validated by the trainer's options
class (:func:`trainer_options`). The built-in trainers' older keywords (``threshold``, ``unannotated_label``,
``unannotated_sampling``, ``script``, ``script_timeout``) stay top-level fields, as they always were.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import attrs

from alab_training.arguments import shown
from alab_training.errors import ParamsError

__all__ = ["COMPLETION_FILTERS", "TIE_BREAKERS", "TYPE_NAME", "TrainingParams", "params_argument", "params_from_dict",
           "params_to_dict", "trainer_options"]

COMPLETION_FILTERS = ("all_submitted", "reviewed_only")
TIE_BREAKERS = ("latest", "annotator_priority")
#: What a training type may be called (``ner``, a plugin's ``gazetteer`` …); always matched in full.
TYPE_NAME = re.compile(r"[a-z][a-z0-9_]*")
_LANGUAGE = re.compile(r"[a-z]{2,3}([-_][A-Za-z]{2,4})?")


def _strings(value: Any) -> tuple[str, ...]:
    """Accept a tuple, list or a single string; keep order, drop duplicates."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Iterable) or isinstance(value, (bytes, bytearray)):
        return value  # the validator reports the type
    items = tuple(value)
    # Only strings are deduplicated: a list or dict among them is unhashable, and the validator reports it.
    return tuple(dict.fromkeys(items)) if all(isinstance(item, str) for item in items) else items


def _pairs(value: Any) -> Any:
    """A mapping (or pairs) becomes sorted ``(key, value)`` pairs, so the params stay hashable and comparable."""
    if isinstance(value, dict):
        value = tuple(value.items())
    if isinstance(value, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
        pairs = tuple((p[0], p[1]) for p in value)
        # Keys of other types cannot be sorted among strings; the validator reports them.
        return tuple(sorted(pairs, key=lambda pair: pair[0])) if all(isinstance(p[0], str) for p in pairs) else pairs
    return value


def _fractions(instance: TrainingParams, attribute: attrs.Attribute, value: Any) -> None:
    # _pairs leaves what is not made of pairs as it came: ("a",) must be refused here, not unpacked
    valid = isinstance(value, tuple) and all(isinstance(pair, tuple) and len(pair) == 2 for pair in value) and all(
        isinstance(label, str) and label and isinstance(share, (int, float)) and not isinstance(share, bool)
        and 0 < share <= 1 for label, share in value)
    if not valid:
        raise ParamsError("expected {entity label: fraction in (0, 1]}", field=attribute.name, value=value)


def _string_items(instance: TrainingParams, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, tuple) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ParamsError("expected a list of non-empty strings", field=attribute.name, value=value)


def _number(low: float, high: float, *, integer: bool = False, low_open: bool = False, high_open: bool = False,
            optional: bool = True):
    """A validator of a number in a range; ``optional`` lets ``None`` ("the trainer's default") through."""

    def check(instance: TrainingParams, attribute: attrs.Attribute, value: Any) -> None:
        if value is None and optional:
            return
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or (isinstance(value, float) and math.isnan(value)):
            raise ParamsError(f"expected {'an integer' if integer else 'a number'}, got {shown(value)}",
                              field=attribute.name, value=value)
        too_low = value <= low if low_open else value < low
        too_high = value >= high if high_open else value > high
        if too_low or too_high:
            left, right = "(" if low_open else "[", ")" if high_open else "]"
            raise ParamsError(f"{shown(value)} is outside {left}{low}, {high}{right}", field=attribute.name,
                              value=value)

    return check


def _one_of(choices: tuple[str, ...]):
    def check(instance: TrainingParams, attribute: attrs.Attribute, value: Any) -> None:
        if value not in choices:
            raise ParamsError(f"{shown(value)} is not one of {', '.join(choices)}", field=attribute.name,
                              value=value)

    return check


def _match(pattern: re.Pattern[str], what: str, *, optional: bool = True):
    """A validator of a string matching ``pattern`` in full; ``optional`` lets ``None`` through."""

    def check(instance: TrainingParams, attribute: attrs.Attribute, value: Any) -> None:
        if (value is not None or not optional) and (not isinstance(value, str) or not pattern.fullmatch(value)):
            raise ParamsError(f"{shown(value)} is not {what}", field=attribute.name, value=value)

    return check


def _optional_text(instance: TrainingParams, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ParamsError(f"expected a non-empty string, got {shown(value)}", field=attribute.name, value=value)


def _options_copy(value: Any) -> Any:
    """A private copy, so a caller's later change to its dict cannot change frozen params."""
    if isinstance(value, dict):
        return {key: dict(inner) if isinstance(inner, dict) else inner for key, inner in value.items()}
    return value


def _options(instance: TrainingParams, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, dict):
        raise ParamsError(f"expected {{training type: {{option: value}}}}, got {type(value).__name__}",
                          field="options", value=value)
    for training_type, options in value.items():
        if not isinstance(training_type, str) or not TYPE_NAME.fullmatch(training_type):
            raise ParamsError(f"{shown(training_type)} is not a training type name", field="options",
                              value=training_type)
        if not isinstance(options, dict) or not all(isinstance(key, str) for key in options):
            raise ParamsError(f"expected an object of options, got {type(options).__name__}",
                              field=f"options.{training_type}", value=options)


@attrs.frozen(kw_only=True)
class TrainingParams:
    """What to train and how. Validated on construction; change with ``attrs.evolve``.

    Attributes:
        training_type: ``"ner"``, ``"assertion"``, ``"classification"`` or a plugin's type; ``None`` trains every
            type the labeling config supports.
        epochs: passes over the training data (NerDL ``maxEpochs``); ``None`` = the engine's default.
        learning_rate: initial learning rate (``lr``).
        decay: learning-rate decay (NerDL ``po``: epoch rate = lr / (1 + decay * epoch)).
        dropout: dropout rate in [0, 1).
        batch_size: examples per batch.
        validation_split: share of tasks held out for evaluation, chosen deterministically by task id and seed.
        tags: train only on tasks carrying at least one of these tags (case-insensitive).
        test_tags: tasks carrying one of these tags form the evaluation side instead of a random split.
        completion_filter: ``"all_submitted"`` or ``"reviewed_only"``.
        tie_breaker: ``"latest"`` or ``"annotator_priority"`` — which submitted completion wins when no
            reviewer accepted one.
        annotator_priority: annotators in priority order, for ``tie_breaker="annotator_priority"``.
        embeddings: a local embeddings file or saved model, or a registered name; ``None`` = the default for
            ``language``.
        base_model: a trained model to start from (transfer learning).
        language: ISO 639 code of the texts: it sets how they are split into sentences and tokens, and which
            embeddings ``None`` means (vectors learned from the project's texts where no default exists).
        unlabelled_corpus: a UTF-8 text file, or a folder of ``*.txt`` files (one text per line), that word
            vectors learned from the project's texts also learn from; only used when the embeddings are learned.
        seed: seeds the split and the engine, so reruns are comparable.
        choices_name: which ``<Choices>`` a classification trains; ``None`` = the config's rule.
        unannotated_label: for assertion status, the label given to entity spans nobody marked with an assertion
            label (e.g. ``"present"``); ``None`` leaves such spans out.
        unannotated_sampling: per entity label, the fraction (0, 1] of those unmarked spans kept, e.g.
            ``{"PROBLEM": 0.5}`` — a seeded down-sampling for the usually dominant default class.
        threshold: for multi-label classification, the score above which a label is predicted
            (MultiClassifierDL ``threshold``); ``None`` = the trainer's default.
        script: for ``training_type="script"``, the path of the user's training script.
        script_timeout: seconds the script may run before it is stopped and the training fails.
        options: per training type, that trainer's own options, e.g. ``{"gazetteer": {"min_count": 2}}``;
            checked against the trainer's options class before training starts (:func:`trainer_options`).
    """

    training_type: str | None = attrs.field(default=None, validator=_match(TYPE_NAME, "a training type name"))
    epochs: int | None = attrs.field(default=None, validator=_number(1, 10_000, integer=True))
    learning_rate: float | None = attrs.field(default=None, validator=_number(0, 1, low_open=True))
    decay: float | None = attrs.field(default=None, validator=_number(0, 1))
    dropout: float | None = attrs.field(default=None, validator=_number(0, 1, high_open=True))
    batch_size: int | None = attrs.field(default=None, validator=_number(1, 65_536, integer=True))
    validation_split: float = attrs.field(default=0.0, validator=_number(0, 1, high_open=True, optional=False))
    tags: tuple[str, ...] = attrs.field(default=(), converter=_strings, validator=_string_items)
    test_tags: tuple[str, ...] = attrs.field(default=(), converter=_strings, validator=_string_items)
    completion_filter: str = attrs.field(default="all_submitted", validator=_one_of(COMPLETION_FILTERS))
    tie_breaker: str = attrs.field(default="latest", validator=_one_of(TIE_BREAKERS))
    annotator_priority: tuple[str, ...] = attrs.field(default=(), converter=_strings, validator=_string_items)
    embeddings: str | None = attrs.field(default=None, validator=_optional_text)
    base_model: str | None = attrs.field(default=None, validator=_optional_text)
    language: str = attrs.field(default="en",
                                validator=_match(_LANGUAGE, "an ISO 639 language code", optional=False))
    unlabelled_corpus: str | None = attrs.field(default=None, validator=_optional_text)
    seed: int = attrs.field(default=42, validator=_number(0, 2**31 - 1, integer=True, optional=False))
    choices_name: str | None = attrs.field(default=None, validator=_optional_text)
    unannotated_label: str | None = attrs.field(default=None, validator=_optional_text)
    unannotated_sampling: tuple[tuple[str, float], ...] = attrs.field(default=(), converter=_pairs,
                                                                      validator=_fractions)
    threshold: float | None = attrs.field(default=None, validator=_number(0, 1, low_open=True, high_open=True))
    script: str | None = attrs.field(default=None, validator=_optional_text)
    script_timeout: float | None = attrs.field(default=None, validator=_number(0, 7 * 24 * 3600, low_open=True))
    options: dict[str, dict[str, Any]] = attrs.field(factory=dict, converter=_options_copy, validator=_options,
                                                     hash=False)

    def __attrs_post_init__(self) -> None:
        if self.tie_breaker == "annotator_priority" and not self.annotator_priority:
            raise ParamsError('tie_breaker="annotator_priority" needs annotator_priority=("alice", …)',
                              field="annotator_priority", value=self.annotator_priority)


def params_from_dict(data: dict[str, Any]) -> TrainingParams:
    """Build params from a JSON-like dict (CLI, job files); unknown keys are an error, not silently dropped."""
    if not isinstance(data, dict):
        raise ParamsError(f"expected an object of parameters, got {type(data).__name__}", field="$", value=data)
    names = {a.name for a in attrs.fields(TrainingParams)}
    # A key may be any value (a dict built in code): named as text, so that keys of all types sort and print.
    unknown = sorted(((key if isinstance(key, str) else shown(key), key) for key in data if key not in names),
                     key=lambda named: named[0])
    if unknown:
        raise ParamsError(f"unknown parameter(s) {', '.join(name for name, _ in unknown)}; known: "
                          f"{', '.join(sorted(names))}", field=unknown[0][0], value=data[unknown[0][1]])
    try:
        return TrainingParams(**data)
    except TypeError as exc:  # e.g. a list passed where attrs' converter cannot cope
        raise ParamsError(str(exc), field="$", value=data) from exc


def params_argument(params: Any, field: str = "params", *, dicts: bool = False) -> TrainingParams:
    """A public function's ``params`` argument: the :class:`TrainingParams` given, or the defaults for ``None``.

    A dict is read with :func:`params_from_dict` only where ``dicts`` says the function takes one (a job file
    does); elsewhere it is refused rather than half read.

    Raises:
        ParamsError: anything else, naming ``field``; an invalid dict.
    """
    if params is None:
        return TrainingParams()
    if isinstance(params, TrainingParams):
        return params
    if isinstance(params, dict) and dicts:
        return params_from_dict(params)
    hint = " (build one with params_from_dict)" if isinstance(params, dict) else ""
    raise ParamsError(f"expected TrainingParams or None, got {type(params).__name__}{hint}", field=field,
                      value=params)


def params_to_dict(params: TrainingParams) -> dict[str, Any]:
    """JSON-ready dict of the params (tuples become lists)."""
    data = {key: list(value) if isinstance(value, tuple) else value for key, value in attrs.asdict(params).items()}
    data["unannotated_sampling"] = dict(params.unannotated_sampling)
    return data


def trainer_options(params: TrainingParams, training_type: str, options_type: type | None) -> Any:
    """The typed options of one trainer: ``options_type(**params.options[training_type])``.

    Args:
        params: the parameters.
        training_type: the trainer's type; its entry in ``params.options`` (absent: all defaults).
        options_type: the trainer's attrs options class, or ``None`` when it takes no options.

    Returns:
        An instance of ``options_type``, or ``None`` for a trainer without options.

    Raises:
        ParamsError: options for a trainer that takes none, an unknown key, or a value the class refuses; the
            field is the option's path, e.g. ``options.gazetteer.min_count``.
    """
    given = params.options.get(training_type, {})
    where = f"options.{training_type}"
    if options_type is None:
        if given:
            raise ParamsError(f"the {training_type} trainer takes no options", field=where, value=given)
        return None
    known = {field.name for field in attrs.fields(options_type)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ParamsError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known)) or 'none'}",
                          field=f"{where}.{unknown[0]}", value=given[unknown[0]])
    try:
        return options_type(**given)
    except ParamsError as exc:
        raise ParamsError(exc.message, field=f"{where}.{exc.field}", value=exc.value) from exc
    except (TypeError, ValueError) as exc:  # attrs' own validators and converters
        message = str(exc.args[0] if exc.args else exc)
        name = _failed_field(exc, message, known)
        raise ParamsError(message, field=f"{where}.{name}" if name else where,
                          value=given.get(name) if name else given) from exc


def _failed_field(exc: Exception, message: str, known: set[str]) -> str | None:
    """The option an attrs validator refused: its ``Attribute`` argument, else the ``'name'`` its message quotes."""
    if len(exc.args) > 1 and isinstance(exc.args[1], attrs.Attribute):
        return exc.args[1].name
    quoted = re.match(r"'(\w+)'", message)
    return quoted.group(1) if quoted and quoted.group(1) in known else None

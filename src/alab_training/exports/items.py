"""Checking the items of an export against the labeling config and the task text: spans, choices, relations.

A broken item becomes a :class:`~alab_training.model.LoadWarning` with its JSON path, and is left out; with
``strict=True`` it raises :class:`~alab_training.errors.ExportError` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from alab_training.arguments import shown
from alab_training.config import LabelingConfig
from alab_training.errors import ExportError
from alab_training.exports import offsets
from alab_training.exports.values import MAPPING, ItemProblem, number, parse_timestamp
from alab_training.model import ChoiceAnswer, LoadWarning, Relation, Span

__all__ = ["ItemReader"]

_TEXT_FALLBACKS = ("text", "longText")


class ItemReader:
    """Checks the items of one export against its labeling config and texts, collecting warnings on the way.

    One reader reads one export; ``warnings`` holds what it left out. :class:`~alab_training.exports.tasks.ExportReader`
    adds the task level.
    """

    def __init__(self, config: LabelingConfig, *, strict: bool = False, source: str | None = None) -> None:
        self.config = config
        self._text_keys = (config.text_key, *(k for k in _TEXT_FALLBACKS if k != config.text_key))
        self.strict = strict
        self.source = source
        self.warnings: list[LoadWarning] = []
        self.export_format = "annotation_lab"
        self.label_sets = {c.name: frozenset(label.value for label in c.labels) for c in config.labels_controls}
        self.choices = {c.name: frozenset(c.values) for c in config.choices_controls}
        #: Each label combination that passed the checks, by ``(from_name, *labels)``: checked once, and one
        #: labels tuple shared by all its spans (an export repeats a few combinations a million times).
        self._checked_labels: dict[tuple[Any, ...], tuple[str, tuple[str, ...]]] = {}
        #: One string object per distinct ``to_name``, annotator or reviewer rather than one per occurrence.
        self._names: dict[str, str] = {}
        #: The last task text's UTF-16 mapping (``None``: no character beyond U+FFFF), computed once per text.
        self._utf16: tuple[str | None, offsets.Utf16 | None] = (None, None)

    def _shared(self, name: str | None) -> str | None:
        return None if name is None else self._names.setdefault(name, name)

    def _utf16_of(self, text: str) -> offsets.Utf16 | None:
        if self._utf16[0] is not text:
            self._utf16 = (text, offsets.Utf16.of(text))
        return self._utf16[1]

    # -- problems ---------------------------------------------------------------------------------------------

    def fail(self, path: str, message: str) -> ExportError:
        """The error for a structural problem at ``path`` (raise it)."""
        return ExportError(message, path=path, source=self.source)

    def warn(self, path: str, code: str, message: str) -> None:
        """Record a left-out item (``code`` from :data:`WARNING_CODES`); with ``strict``, raise instead."""
        if self.strict:
            raise self.fail(path, message)
        self.warnings.append(LoadWarning(path=path, message=message, code=code))

    def text_of(self, data: Mapping[str, Any], path: str) -> str:
        """The task text in ``data``: the config's ``$key``, else ``text`` / ``longText``."""
        for key in self._text_keys:
            value = data.get(key)
            if isinstance(value, str):
                return value
            if value is not None:
                raise self.fail(f"{path}.{key}", f"the task text must be a string, got {type(value).__name__}")
        raise self.fail(f"{path}.{self.config.text_key}", "the task has no text")

    def tags(self, task: Mapping[str, Any], path: str) -> tuple[str, ...]:
        """The task's tags (``tags`` or ``meta.tags``; a comma-separated string is split)."""
        meta = task.get("meta")
        raw, where = task.get("tags"), f"{path}.tags"
        if raw is None and isinstance(meta, MAPPING):
            raw, where = meta.get("tags"), f"{path}.meta.tags"
        if raw is None:
            return ()
        if isinstance(raw, str):
            raw = raw.split(",")
        if not isinstance(raw, list):
            self.warn(where, "bad_tags", f"tags must be a list of strings, got {type(raw).__name__}")
            return ()
        tags = []
        for index, tag in enumerate(raw):
            if isinstance(tag, str) and tag.strip():
                tags.append(tag.strip())
            else:
                self.warn(f"{where}[{index}]", "bad_tags", f"a tag must be a non-empty string, got {shown(tag)}")
        return tuple(dict.fromkeys(tags))

    def timestamp(self, raw: Mapping[str, Any], key: str, path: str) -> datetime | None:
        """``raw[key]`` as a time; ``None`` (and a warning) when unreadable."""
        value = raw.get(key)
        if value is None:
            return None
        moment = parse_timestamp(value)
        if moment is None:
            self.warn(f"{path}.{key}", "bad_timestamp", f"unreadable timestamp {shown(value)}; ignored")
        return moment

    # -- result items -------------------------------------------------------------------------------------------

    def results(
        self, items: list[Any], path: str, text: str
    ) -> tuple[tuple[Span, ...], tuple[ChoiceAnswer, ...], tuple[Relation, ...]]:
        """The spans, choice answers and relations of a ``result`` list; broken items are left out with a warning."""
        spans: list[Span] = []
        choices: dict[str, ChoiceAnswer] = {}
        pending_relations: list[tuple[str, Mapping[str, Any]]] = []
        utf16 = self._utf16_of(text)
        evidence = offsets.hint(utf16, (item.get("value") for item in items if isinstance(item, MAPPING)
                                        and item.get("type") == "labels")) if utf16 is not None else None
        for index, item in enumerate(items):
            if not isinstance(item, MAPPING):
                self.warn(f"{path}[{index}]", "bad_item",
                          f"expected a result object, got {type(item).__name__}; left out")
                continue
            kind = item.get("type")
            try:
                if kind == "labels":
                    span, recovered = self._span(item.get("value"), text, item.get("from_name"), item.get("to_name"),
                                                 item.get("id"), evidence)
                    if recovered:
                        self._utf16_kept(f"{path}[{index}].value", item.get("value"), span)
                    spans.append(span)
                elif kind == "choices":
                    answer = self._choice_answer(item.get("value"), item.get("from_name"), item.get("to_name"))
                    previous = choices.get(answer.from_name)
                    if previous is not None:  # one control answered in two items: keep both answers
                        answer = ChoiceAnswer(answer.from_name, tuple(dict.fromkeys(previous.choices + answer.choices)),
                                              answer.to_name)
                    choices[answer.from_name] = answer
                elif kind == "relation":
                    pending_relations.append((f"{path}[{index}]", item))
                elif not isinstance(kind, str):
                    self.warn(f"{path}[{index}].type", "bad_item", "a result item needs a 'type'; left out")
                # Other types (textarea, rating, taxonomy, …) carry nothing the trainers learn from.
            except ItemProblem as problem:
                below = problem.where if problem.on_item else ".value" + problem.where
                self.warn(f"{path}[{index}]{below}", problem.code, problem.message)
        relations = []
        if pending_relations:
            region_ids = {span.region_id for span in spans if span.region_id is not None}
            relations = [r for where, item in pending_relations if (r := self._relation(item, where, region_ids))]
        return tuple(spans), tuple(choices.values()), tuple(relations)

    def span(self, value: Any, path: str, text: str, from_name: Any, to_name: Any,
             region_id: Any = None) -> Span | None:
        """A ``labels`` value checked against the text and the config; ``None`` (and a warning) if broken."""
        try:
            span, recovered = self._span(value, text, from_name, to_name, region_id, None)
        except ItemProblem as problem:
            self.warn((path.removesuffix(".value") if problem.on_item else path) + problem.where, problem.code,
                      problem.message)
            return None
        if recovered:
            self._utf16_kept(path, value, span)
        return span

    def _utf16_kept(self, path: str, value: Mapping[str, Any], span: Span) -> None:
        self.warn(path, "code_unit_offsets", f"offsets [{value['start']}, {value['end']}) count UTF-16 units (as "
                                             f"Label Studio's browser does): read as [{span.start}, {span.end}) "
                                             f"{shown(span.text)}; kept")

    def _span(self, value: Any, text: str, from_name: Any, to_name: Any, region_id: Any,
              evidence: str | None) -> tuple[Span, bool]:
        """The span and whether its offsets were read as UTF-16 units; raises :class:`ItemProblem`."""
        if not isinstance(value, MAPPING):
            raise ItemProblem("", "bad_item", "a labels item needs a 'value' object; left out")
        start, end = value.get("start"), value.get("end")
        if type(start) is not int or type(end) is not int:  # the common case skips the loop
            for key, offset in (("start", start), ("end", end)):
                if isinstance(offset, bool) or not isinstance(offset, int):
                    raise ItemProblem(f".{key}", "bad_offset",
                                   f"'{key}' must be an integer, got {shown(offset)}; span left out")
        utf16 = self._utf16_of(text)
        expected = value.get("text")
        converted = offsets.reading(utf16, start, end, expected if isinstance(expected, str) else None,
                                    evidence) if utf16 is not None else None
        if converted is not None:
            start, end = converted
        if not 0 <= start < end <= len(text):
            bad = "start" if not 0 <= start < len(text) or start >= end else "end"
            raise ItemProblem(f".{bad}", "offset_out_of_range",
                              f"span [{shown(start)}, {shown(end)}) does not fit in the text (length {len(text)}); "
                              "span left out")
        covered = text[start:end]
        span_text = value.get("text", covered)
        if span_text != covered:
            raise ItemProblem(".text", "text_mismatch",
                              f"span text {shown(span_text)} differs from the task text at [{start}, {end}): "
                              f"{shown(covered)}; left out")
        control_name, labels = self._span_labels(value.get("labels"), from_name)
        return Span(
            start=start,
            end=end,
            text=covered,
            labels=labels,
            region_id=region_id if isinstance(region_id, str) else None,
            from_name=control_name,
            to_name=self._shared(to_name) if isinstance(to_name, str) else "text",
            confidence=number(value.get("confidence")),
        ), converted is not None

    def _span_labels(self, labels: Any, from_name: Any) -> tuple[str, tuple[str, ...]]:
        """The control and labels of a span; each combination is checked once and then shared by its spans."""
        # Only JSON's shapes are looked up (a tuple of labels must still fail the checks).
        key = (from_name, *labels) if type(labels) is list and type(from_name) is str else None
        try:
            return self._checked_labels[key]
        except (KeyError, TypeError):  # not seen yet, or unhashable: the checks below say what is wrong
            pass
        if not isinstance(labels, list) or not labels or not all(isinstance(v, str) and v for v in labels):
            raise ItemProblem(".labels", "bad_labels",
                              f"'labels' must be a non-empty list of strings, got {shown(labels)}")
        control_name = from_name if isinstance(from_name, str) else None
        if control_name is None and len(self.label_sets) == 1:
            control_name = next(iter(self.label_sets))
        known = self.label_sets.get(control_name) if control_name else None
        if known is None:
            raise ItemProblem(".from_name", "unknown_control",
                           f"no <Labels name={shown(from_name)}> in the config; span left out", on_item=True)
        unknown = [label for label in labels if label not in known]
        if unknown:
            raise ItemProblem(".labels", "unknown_label",
                           f"label {shown(unknown[0])} is not in <Labels name={shown(control_name)}>; span left out")
        checked = (control_name, tuple(labels))
        if key is not None:
            self._checked_labels[key] = checked
        return checked

    def choice_answer(self, value: Any, path: str, from_name: Any, to_name: Any) -> ChoiceAnswer | None:
        """A ``choices`` value checked against its ``<Choices>``; ``None`` (and a warning) if broken."""
        try:
            return self._choice_answer(value, from_name, to_name)
        except ItemProblem as problem:
            self.warn((path.removesuffix(".value") if problem.on_item else path) + problem.where, problem.code,
                      problem.message)
            return None

    def _choice_answer(self, value: Any, from_name: Any, to_name: Any) -> ChoiceAnswer:
        picked = value.get("choices") if isinstance(value, MAPPING) else None
        if isinstance(picked, str):
            picked = [picked]
        if not isinstance(picked, list) or not all(isinstance(v, str) for v in picked):
            raise ItemProblem(".choices", "bad_choices", f"'choices' must be a list of strings, got {shown(picked)}")
        known = self.choices.get(from_name) if isinstance(from_name, str) else None
        if known is None:
            raise ItemProblem(".from_name", "unknown_control",
                           f"no <Choices name={shown(from_name)}> in the config; answer left out", on_item=True)
        unknown = [v for v in picked if v not in known]
        if unknown:
            raise ItemProblem(".choices", "unknown_choice",
                           f"choice {shown(unknown[0])} is not in <Choices name={shown(from_name)}>; answer left out")
        return ChoiceAnswer(from_name=from_name, choices=tuple(dict.fromkeys(picked)),
                            to_name=to_name if isinstance(to_name, str) else "text")

    def _relation(self, item: Mapping[str, Any], path: str, region_ids: set[str]) -> Relation | None:
        ends = item.get("from_id"), item.get("to_id")
        if not all(isinstance(end, str) for end in ends):
            self.warn(path, "bad_relation", "a relation needs string 'from_id' and 'to_id'; left out")
            return None
        missing = [end for end in ends if end not in region_ids]
        if missing:
            self.warn(path, "dangling_relation", f"relation refers to region {shown(missing[0])}, which is not a "
                                                 "kept span of this completion; left out")
            return None
        labels = item.get("labels") or ()
        if not isinstance(labels, (list, tuple)) or not all(isinstance(v, str) for v in labels):
            self.warn(f"{path}.labels", "bad_relation",
                      f"relation labels must be strings, got {shown(labels)}; left out")
            return None
        direction = item.get("direction")
        return Relation(from_id=ends[0], to_id=ends[1], labels=tuple(labels),
                        direction=direction if isinstance(direction, str) else "right")

    # -- JSON_MIN / CSV rows ----------------------------------------------------------------------------------

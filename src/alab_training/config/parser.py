"""Reading labeling configs safely: no DTD, no entity expansion, no network, bounded size."""

from __future__ import annotations

import os

from lxml import etree

from alab_training.arguments import expect, expect_names
from alab_training.config.controls import ChoicesControl, LabelDef, LabelingConfig, LabelsControl
from alab_training.config.rules import check_config
from alab_training.errors import ConfigError, FileError
from alab_training.files import read_bytes_bounded

__all__ = ["MAX_CONFIG_BYTES", "config_from_tree", "element_path", "is_true", "load_config", "parse_xml"]

#: Real configs are a few KB; anything this large is a mistake or an attack.
MAX_CONFIG_BYTES = 5 * 1024 * 1024

_OBJECT_TAGS = ("Text", "HyperText", "Paragraphs")
_TRUE = {"true", "1", "yes"}


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_comments=False,
        remove_pis=False,
    )


def _read_source(config: str | bytes | os.PathLike[str]) -> tuple[bytes, str | None]:
    if isinstance(config, bytes):
        return config, None
    if isinstance(config, str) and config.lstrip().startswith("<"):
        return _encoded(config), None
    path = expect(config, "config", (str, os.PathLike), "a labeling config's path, or its XML text")
    try:
        return read_bytes_bounded(path, MAX_CONFIG_BYTES), os.fspath(path)
    except FileError as exc:  # also a path that cannot name a file (empty, a NUL character)
        reason = f"a labeling config may be at most {MAX_CONFIG_BYTES} bytes" if exc.reason == "too_large" else (
            exc.message)
        raise ConfigError(f"cannot read the labeling config {os.fspath(path)!r}: {reason}") from exc


def _encoded(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: no file could hold this text
        raise ConfigError(f"the labeling config text cannot be encoded as UTF-8 (character {exc.start})",
                          rule="xml_syntax") from exc


def parse_xml(data: str | bytes) -> etree._ElementTree:
    """Parse config XML with a hardened parser; refuse any DOCTYPE (the door to XXE and entity bombs).

    Raises:
        ConfigError: not well-formed, too large, or carries a DTD.
        ParamsError: ``data`` is neither text nor bytes.
    """
    raw = _encoded(data) if isinstance(data, str) else bytes(expect(data, "data", (bytes, bytearray), "XML text"))
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"the labeling config is {len(raw)} bytes; at most {MAX_CONFIG_BYTES} are accepted")
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise ConfigError("DOCTYPE and ENTITY declarations are not allowed in a labeling config", rule="dtd")
    try:
        tree = etree.ElementTree(etree.fromstring(raw, _parser()))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise ConfigError(f"not well-formed XML: {exc.msg}", line=line, rule="xml_syntax") from exc
    except ValueError as exc:  # lxml refuses e.g. str input with an encoding declaration
        raise ConfigError(f"cannot parse the labeling config: {exc}", rule="xml_syntax") from exc
    docinfo = tree.docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None or docinfo.doctype:
        # Also catches declarations in encodings the byte check above cannot see (e.g. UTF-16).
        raise ConfigError("DOCTYPE and ENTITY declarations are not allowed in a labeling config", rule="dtd")
    return tree


def element_path(parent: str, tag: str, key: str, value: str | None) -> str:
    """The path errors use for an element: ``/Labels[@name='label']`` below ``parent``."""
    return f"{parent}/{tag}[@{key}={value!r}]" if value else f"{parent}/{tag}"


def is_true(element: etree._Element, name: str) -> bool:
    """Whether a boolean attribute (``assertion="true"``, ``train="1"``) is set."""
    return (element.get(name) or "").strip().lower() in _TRUE


def _control_name(element: etree._Element, what: str) -> str:
    name = (element.get("name") or "").strip()
    if not name:
        raise ConfigError(f"<{what}> needs a name", path=f"/{what}", line=element.sourceline, rule="missing_name")
    return name


def _parse_labels(element: etree._Element) -> LabelsControl:
    name = _control_name(element, "Labels")
    base = element_path("", "Labels", "name", name)
    labels: list[LabelDef] = []
    seen: set[str] = set()
    for label in element.iter("Label"):
        value = label.get("value")
        if value is None or not value.strip():
            raise ConfigError("<Label> needs a value", path=f"{base}/Label", line=label.sourceline,
                              rule="missing_value")
        if value in seen:
            raise ConfigError(
                f"label {value!r} appears twice", path=element_path(base, "Label", "value", value),
                line=label.sourceline, rule="duplicate_label",
            )
        seen.add(value)
        model = (label.get("model") or "").strip() or None
        labels.append(LabelDef(value=value, assertion=is_true(label, "assertion"), model=model, line=label.sourceline))
    return LabelsControl(name=name, to_name=element.get("toName", ""), labels=tuple(labels), line=element.sourceline)


def _parse_choices(element: etree._Element) -> ChoicesControl:
    name = _control_name(element, "Choices")
    base = element_path("", "Choices", "name", name)
    choice = (element.get("choice") or "single").strip().lower()
    if choice not in ("single", "multiple", "single-radio"):
        raise ConfigError(
            f"choice={choice!r}; expected 'single' or 'multiple'", path=base, line=element.sourceline,
            rule="bad_choice_mode",
        )
    values: list[str] = []
    for option in element.iter("Choice"):
        value = option.get("value")
        if value is None or not value.strip():
            raise ConfigError("<Choice> needs a value", path=f"{base}/Choice", line=option.sourceline,
                              rule="missing_value")
        if value in values:
            raise ConfigError(
                f"choice {value!r} appears twice", path=element_path(base, "Choice", "value", value),
                line=option.sourceline, rule="duplicate_choice",
            )
        values.append(value)
    return ChoicesControl(
        name=name,
        to_name=element.get("toName", ""),
        values=tuple(values),
        choice="multiple" if choice == "multiple" else "single",
        train=is_true(element, "train"),
        model=(element.get("model") or "").strip() or None,
        line=element.sourceline,
    )


def _check_unique_names(root: etree._Element) -> None:
    """Every ``name`` once, as Label Studio requires: results name their control by ``from_name``, so a second
    control of one name would get (or lose) the first one's spans and answers."""
    seen: dict[str, etree._Element] = {}
    for element in root.iter(etree.Element):
        name = (element.get("name") or "").strip()
        if not name:
            continue
        first = seen.setdefault(name, element)
        if first is not element:
            raise ConfigError(f"the name {name!r} is used by <{first.tag}> (line {first.sourceline}) and again by "
                              f"<{element.tag}>; every name in a labeling config must be unique",
                              path=element_path("", element.tag, "name", name), line=element.sourceline,
                              rule="duplicate_name")


def config_from_tree(tree: etree._ElementTree, xml: str, *, known_models: set[str] | None = None,
                     source: str | None = None) -> LabelingConfig:
    """The validated config of a parsed tree whose text is ``xml`` (see :func:`load_config` for the arguments).

    Raises:
        ConfigError: against a validation rule.
    """
    root = tree.getroot()
    if root.tag != "View":
        raise ConfigError(f"the root element is <{root.tag}>; a labeling config starts with <View>", rule="root")
    _check_unique_names(root)
    text_objects = []
    for tag in _OBJECT_TAGS:
        for element in root.iter(tag):
            value = element.get("value", "")
            if element.get("name") and value.startswith("$"):
                text_objects.append((element.get("name"), value[1:]))
    config = LabelingConfig(
        xml=xml,
        labels_controls=tuple(_parse_labels(e) for e in root.iter("Labels")),
        choices_controls=tuple(_parse_choices(e) for e in root.iter("Choices")),
        relation_labels=tuple(r.get("value") for r in root.iter("Relation") if r.get("value")),
        text_objects=tuple(text_objects),
        source=source,
    )
    check_config(config, known_models=known_models)
    return config


def load_config(
    config: str | bytes | os.PathLike[str], *, known_models: set[str] | None = None
) -> LabelingConfig:
    """Read and validate a labeling config from a path, or from XML text (a string starting with ``<``).

    Args:
        config: a file path, XML text, or XML bytes.
        known_models: model names that exist (e.g. in a model registry); when given, a ``model=`` naming
            anything else is an error.

    Raises:
        ConfigError: unreadable (a FIFO, a device, too large...), unsafe, malformed, or against a validation rule.
        ParamsError: ``config`` or ``known_models`` is of another type.
    """
    known = None if known_models is None else set(expect_names(known_models, "known_models"))
    if isinstance(config, LabelingConfig):
        return config
    raw, source = _read_source(config)
    tree = parse_xml(raw)
    try:
        xml = raw.decode(tree.docinfo.encoding or "utf-8")
    except (LookupError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot decode the labeling config{f' {source}' if source else ''}: {exc}") from exc
    return config_from_tree(tree, xml, known_models=known, source=source)

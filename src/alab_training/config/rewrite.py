"""Rewriting ``model=`` attributes in a labeling config's text, keeping every other byte as it was.

Deploying a model changes one attribute on a few elements; the annotation tool's file should otherwise stay as its
author wrote it: comments, attribute order, quotes, whitespace and line endings. So the text is edited in place,
tag by tag, rather than re-serialised by lxml. Elements are numbered in document order, the order of
``root.iter(etree.Element)`` on a parse of the same text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

__all__ = ["set_model_attributes"]

# The document is known to be well-formed (lxml parsed it), so start tags can be found without a full parser:
# skip comments, CDATA, processing instructions and end tags; what is left at a "<" is a start tag.
_SKIPPED = (("<!--", "-->"), ("<![CDATA[", "]]>"), ("<?", "?>"), ("</", ">"))
_QUOTED = r"""(?P<quote>["'])(?P<value>.*?)(?P=quote)"""
# XML's white space is these four characters only: a name may hold others that Python's \s takes for white space
# (U+1680, the Ogham space mark), and a tag read with \s would come apart at one.
_SPACE = "[ \t\r\n]"
_NAME = "[^ \t\r\n=/>]+"
_START_TAG = re.compile(rf"""<[^ \t\r\n/>]+(?:{_SPACE}+{_NAME}{_SPACE}*={_SPACE}*(?:"[^"]*"|'[^']*'))*{_SPACE}*/?>""")
_TAG_NAME = re.compile(r"<[^ \t\r\n/>]+")
_ATTRIBUTE = re.compile(rf"{_SPACE}+(?P<name>{_NAME}){_SPACE}*={_SPACE}*" + _QUOTED, re.DOTALL)
_ESCAPES = {"&": "&amp;", "<": "&lt;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


def _start_tags(text: str) -> Iterator[re.Match[str]]:
    """Every start tag of a well-formed document, in document order (that of ``root.iter(etree.Element)``)."""
    position = text.find("<")
    while position != -1:
        for opening, closing in _SKIPPED:
            if text.startswith(opening, position):
                position = text.index(closing, position + len(opening)) + len(closing)
                break
        else:
            tag = _START_TAG.match(text, position)
            yield tag
            position = tag.end()
        position = text.find("<", position)


def _escaped(value: str, quote: str) -> str:
    escaped = "".join(_ESCAPES.get(char, char) for char in value)
    return escaped.replace(quote, "&quot;" if quote == '"' else "&apos;")


def _with_model(tag: str, model: str) -> str:
    """A start tag with its ``model`` attribute set, everything else as it was: the old value's quotes are kept;
    a new attribute goes after the last one, before any space and ``/>``."""
    position = _TAG_NAME.match(tag).end()
    while (attribute := _ATTRIBUTE.match(tag, position)) is not None:
        if attribute.group("name") == "model":
            start, end = attribute.span("value")
            return tag[:start] + _escaped(model, attribute.group("quote")) + tag[end:]
        position = attribute.end()
    return f'{tag[:position]} model="{_escaped(model, chr(34))}"{tag[position:]}'


def set_model_attributes(text: str, values: Mapping[int, str]) -> str:
    """``text`` with the ``model`` attribute of element number ``n`` set to ``values[n]``; the rest byte for byte.

    ``text`` must be well-formed (parse it first); numbers count elements in document order from 0.
    """
    pieces, copied = [], 0
    for number, tag in enumerate(_start_tags(text)):
        if number in values:
            pieces += [text[copied:tag.start()], _with_model(tag.group(), values[number])]
            copied = tag.end()
    return "".join(pieces) + text[copied:]

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from alab_training.config.rewrite import _start_tags

CONFIGS = Path(__file__).parents[1] / "data" / "configs"


@pytest.mark.parametrize("path", sorted([*CONFIGS.glob("*.xml"), *(CONFIGS.parent / "label_studio").glob("*.xml")]),
                         ids=lambda path: path.name)
def test_the_tag_scanner_sees_the_elements_lxml_sees(path):
    raw = path.read_bytes()
    root = etree.fromstring(raw)
    text = raw.decode(root.getroottree().docinfo.encoding)
    tags = [re.match(r"<([^\s/>]+)", tag.group()).group(1) for tag in _start_tags(text)]
    assert tags == [element.tag for element in root.iter(etree.Element)]

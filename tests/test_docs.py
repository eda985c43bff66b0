"""The docs keep up with the code: every hook, reason code and warning code is documented."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from alab_training.exports.values import WARNING_CODES
from alab_training.params import TrainingParams
from alab_training.plugins import hookspecs
from alab_training.plugins.manager import create_plugin_manager
from alab_training.selection import REASONS

DOCS = Path(__file__).parents[1] / "docs"
SOURCE = Path(__file__).parents[1] / "src" / "alab_training"
HOOKS = sorted(name for name in dir(create_plugin_manager(load_entry_points=False).hook) if not name.startswith("_"))


def test_hooks_are_found():
    assert "register_trainers" in HOOKS
    assert all(callable(getattr(hookspecs, name)) for name in HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_section_with_its_parameters(hook):
    text = (DOCS / "plugin-hooks.md").read_text()
    match = re.search(rf"^### `{hook}`\n(.*?)(?=^##|\Z)", text, re.S | re.M)
    assert match, f"docs/plugin-hooks.md has no '### `{hook}`' section"
    section = match.group(1)
    for parameter in getattr(hookspecs, hook).__code__.co_varnames[: getattr(hookspecs, hook).__code__.co_argcount]:
        assert f"`{parameter}`" in section, f"the {hook} section does not describe `{parameter}`"
    assert "```python" in section, f"the {hook} section has no example"


@pytest.mark.parametrize("code", sorted(REASONS))
def test_every_reason_code_is_documented(code):
    assert f"`{code}`" in (DOCS / "selection.md").read_text()


def test_every_warning_code_is_used_and_documented():
    # Item problems are warned directly, or raised as _Problem where a span or answer is checked.
    reader = "".join(path.read_text() for path in sorted((SOURCE / "exports").glob("*.py")))
    used = set(re.findall(r'(?:\.warn|ItemProblem)\(\s*[^,]+,\s*"([a-z_]+)"', reader, re.S))
    assert used == set(WARNING_CODES)
    formats = (DOCS / "formats.md").read_text()
    assert [code for code in sorted(WARNING_CODES) if f"`{code}`" not in formats] == []


def test_every_config_rule_is_documented():
    source = "".join(path.read_text() for folder in ("config", "lifecycle") for path in (SOURCE / folder).glob("*.py"))
    rules = set(re.findall(r'rule="([a-z_]+)"', source))
    formats = (DOCS / "formats.md").read_text()
    assert [rule for rule in sorted(rules) if f"`{rule}`" not in formats] == []


@pytest.mark.parametrize("field", [f.name for f in attrs.fields(TrainingParams)])
def test_every_parameter_is_documented(field):
    assert re.search(rf"^\| `{field}` \|", (DOCS / "params.md").read_text(), re.M), f"docs/params.md lacks `{field}`"

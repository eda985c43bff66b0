"""NerDL TensorFlow graphs: which one fits a training set, and the folder Spark NLP should read it from.

``NerDLApproach`` trains a ready-made TensorFlow graph named ``blstm_{tags}_{dim}_{lstm}_{chars}.pb``. It takes the
first file in its graph folder (or in the jar's ``ner-dl/`` resources when no folder is set) whose ``dim`` equals the
embeddings' width, whose ``tags`` is at least the number of distinct tags (``O`` included), and whose ``chars`` is
at least the number of distinct characters in the training tokens plus one. The jar has graphs for a few widths
only; the default GloVe 50d embeddings are not among them, so graphs for 50d ship inside this package, and any
other shape is built on demand with Spark NLP's own builder (the ``graphs`` extra) and cached.

Limits: at most :data:`MAX_TAGS` tags, :data:`MAX_CHARS` graph characters and :data:`MAX_DIM` embedding dimensions.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import logging
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import attrs
from attrs import validators

from alab_training.errors import EngineError, ParamsError
from alab_training.runtime import cache_root
from alab_training.runtime.children import child_environment

__all__ = [
    "INSTALL_HINT",
    "MAX_CHARS",
    "MAX_DIM",
    "MAX_TAGS",
    "GraphShape",
    "check_graph_available",
    "check_graph_builder",
    "distinct_chars",
    "graph_folder",
    "initialised_graph_folder",
    "shipped_shapes",
]

_LOG = logging.getLogger(__name__)

#: 200 entity labels in IOB. Beyond that the CRF's tags x tags transitions dominate every step, and a label set that
#: large is a config or conversion mistake rather than an annotation project.
MAX_TAGS = 401
#: Graph characters (distinct characters + 1). Enough for Chinese or Japanese text; more means the tokens carry
#: binary junk or whole unsegmented documents.
MAX_CHARS = 20_000
#: The widest embeddings Spark NLP offers (its jar's widest graphs are 4096d).
MAX_DIM = 4096

INSTALL_HINT = "pip install 'alab-training[graphs]'"

#: Widths the Spark NLP 5.5.3 jar has graphs for (``ner-dl/`` resources), each a 10-tag and a 38-tag graph.
_JAR_DIMS = (100, 128, 256, 300, 384, 512, 768, 1024, 2048, 4096)
#: The widths whose 38-tag jar graph has 120 characters instead of 200.
_JAR_NARROW_38 = (128, 256)

_FILENAME = re.compile(r"^blstm_(\d+)_(\d+)_(\d+)_(\d+)\.pb$")
_SHIPPED_PACKAGE = "alab_training.trainers.ner"
_BUILD_TIMEOUT_S = 900

_positive = [validators.instance_of(int), validators.ge(1)]


@attrs.frozen
class GraphShape:
    """The sizes baked into a NerDL graph, as its file name spells them.

    Attributes:
        tags: how many distinct tags (``O`` included) it can emit.
        dim: the embeddings width it takes; must equal the embeddings' exactly.
        chars: the size of its character vocabulary (distinct characters of the training tokens, plus one).
        lstm: the width of its word-level BiLSTM.
    """

    tags: int = attrs.field(validator=_positive)
    dim: int = attrs.field(validator=_positive)
    chars: int = attrs.field(validator=_positive)
    lstm: int = attrs.field(default=128, validator=_positive)

    @property
    def filename(self) -> str:
        """The file name NerDL looks for: ``blstm_{tags}_{dim}_{lstm}_{chars}.pb``."""
        return f"blstm_{self.tags}_{self.dim}_{self.lstm}_{self.chars}.pb"

    @classmethod
    def from_filename(cls, name: str) -> GraphShape | None:
        """The shape a graph file name declares, or ``None`` when the name is not a NerDL graph's."""
        match = _FILENAME.match(name)
        if not match:
            return None
        tags, dim, lstm, chars = (int(group) for group in match.groups())
        return cls(tags=tags, dim=dim, chars=chars, lstm=lstm)

    def covers(self, needed: GraphShape) -> bool:
        """Whether NerDL accepts this graph for a training set that needs ``needed`` (its ``lstm`` is ignored)."""
        return self.dim == needed.dim and self.tags >= needed.tags and self.chars >= needed.chars


def distinct_chars(tokens: Iterable[str]) -> int:
    """The number of distinct characters in ``tokens`` as NerDL counts them.

    The JVM counts UTF-16 code units, so a character outside the Basic Multilingual Plane (emoji, rare CJK) counts
    as its two surrogates, and surrogates are shared between such characters.
    """
    units: set[bytes] = set()
    for token in tokens:
        encoded = token.encode("utf-16-le", "surrogatepass")
        units.update(encoded[i : i + 2] for i in range(0, len(encoded), 2))
    return len(units)


def shipped_shapes() -> tuple[GraphShape, ...]:
    """The graphs inside this package, smallest first."""
    folder = importlib.resources.files(_SHIPPED_PACKAGE).joinpath("graph_files")
    shapes = (GraphShape.from_filename(entry.name) for entry in folder.iterdir())
    return tuple(sorted((shape for shape in shapes if shape), key=lambda s: (s.dim, s.tags, s.chars, s.lstm)))


def check_graph_available(dim: int, tags: int, chars: int) -> GraphShape:
    """Fail now, before any Spark work, if no graph can be had for this training set.

    Cheap: reads no graph and starts nothing. :func:`graph_folder` calls it too.

    Args:
        dim: the embeddings width.
        tags: the number of distinct tags in the training data, ``O`` included.
        chars: the number of distinct characters in the training tokens (see :func:`distinct_chars`).

    Returns:
        The shape of the graph NerDL will train: one in the jar, one shipped here, or one to build.

    Raises:
        ParamsError: a size is beyond the limits, or the graph must be built and TensorFlow is not installed.
    """
    return _choose(dim, tags, chars)[1]


def graph_folder(dim: int, tags: int, chars: int) -> Path | None:
    """The folder to pass to ``NerDLApproach.setGraphFolder``, or ``None`` to let NerDL use its jar's graphs.

    A returned folder holds exactly one graph, so NerDL's choice (the first fitting file it lists) cannot vary. It
    lives in the cache (``<cache_root>/graphs/<graph name>/``): a shipped graph is copied there, any other is built
    there once with Spark NLP's builder in a child process, so TensorFlow never loads into this one.

    Args: as for :func:`check_graph_available`.

    Raises:
        ParamsError: as for :func:`check_graph_available`.
        EngineError: building the graph failed.
    """
    source, shape = _choose(dim, tags, chars)
    if source == "jar":
        _LOG.info("NerDL graph %s: bundled in the Spark NLP jar", shape.filename)
        return None
    folder = cache_root() / "graphs" / shape.filename.removesuffix(".pb")
    target = folder / shape.filename
    if source == "shipped":
        data = importlib.resources.files(_SHIPPED_PACKAGE).joinpath("graph_files", shape.filename).read_bytes()
        # Compared rather than trusted: an upgrade of this package may ship a different graph under the same name.
        if not (target.is_file() and target.read_bytes() == data):
            _publish(target, lambda tmp: tmp.write_bytes(data))
        _LOG.info("NerDL graph %s: shipped with alab-training", shape.filename)
    elif target.is_file():
        _LOG.info("NerDL graph %s: built earlier, in %s", shape.filename, folder)
    else:
        _LOG.info("NerDL graph %s: building it (needs a few seconds)", shape.filename)
        _publish(target, lambda tmp: _build(shape, tmp))
    return folder


def check_graph_builder(purpose: str, *, field: str) -> None:
    """Fail now, before any Spark work, if ``purpose`` needs a graph built and TensorFlow is not installed.

    Raises:
        ParamsError: naming ``field`` and the install command.
    """
    if not _builder_available():
        raise ParamsError(f"{purpose} needs TensorFlow to build its NerDL graph: {INSTALL_HINT}", field=field)


def initialised_graph_folder(shape: GraphShape, init: Path, folder: Path) -> Path:
    """Build into ``folder`` a graph whose variables start from trained weights; returns ``folder``.

    ``init`` is the builder's ``--init-from`` spec (see :mod:`alab_training.trainers.ner.graph_builder`). Such a
    graph belongs to one training run, so it is not cached.

    Raises:
        ParamsError: TensorFlow is not installed.
        EngineError: building failed, e.g. the weights do not fit the graph (the builder's reason is the detail).
    """
    check_graph_builder("starting from a base model", field="base_model")
    _LOG.info("NerDL graph %s: building it from %s", shape.filename, init)
    _publish(folder / shape.filename, lambda tmp: _build(shape, tmp, init))
    return folder


def _choose(dim: int, tags: int, chars: int) -> tuple[str, GraphShape]:
    for name, value, limit in (("dim", dim, MAX_DIM), ("tags", tags, MAX_TAGS), ("chars", chars, MAX_CHARS - 1)):
        if not isinstance(value, int) or value < 1:
            raise ParamsError(f"must be a positive integer, got {value!r}", field=name, value=value)
        if value > limit:
            raise ParamsError(f"{value} is more than NER training supports ({limit})", field=name, value=value)
    needed = GraphShape(tags=tags, dim=dim, chars=chars + 1)
    for source, shapes in (("jar", _jar_shapes(dim)), ("shipped", shipped_shapes())):
        fitting = [shape for shape in shapes if shape.covers(needed)]
        if fitting:
            return source, min(fitting, key=lambda s: (s.tags, s.chars))
    # Rounded up so one build keeps serving a project whose labels and texts grow a little between trainings.
    built = attrs.evolve(
        needed, tags=min(_round_up(tags, 10), MAX_TAGS), chars=min(_round_up(chars + 1, 100), MAX_CHARS)
    )
    if not _builder_available():
        shipped = ", ".join(shape.filename for shape in shipped_shapes()) or "none"
        raise ParamsError(
            f"NER training needs a TensorFlow graph of at least {tags} tags, {dim}-dimensional embeddings and "
            f"{chars + 1} characters ({needed.filename}). Neither Spark NLP's bundled graphs nor those shipped with "
            f"alab-training ({shipped}) fit, and building one needs TensorFlow: {INSTALL_HINT}",
            field="graph",
            value=needed,
        )
    return "build", built


def _jar_shapes(dim: int) -> tuple[GraphShape, ...]:
    if dim not in _JAR_DIMS:
        return ()
    return (
        GraphShape(tags=10, dim=dim, chars=120),
        GraphShape(tags=38, dim=dim, chars=120 if dim in _JAR_NARROW_38 else 200),
    )


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step


def _builder_available() -> bool:
    # find_spec locates the packages without importing them: TensorFlow must stay out of this process.
    return all(importlib.util.find_spec(name) is not None for name in ("tensorflow", "tensorflow_addons"))


def _publish(target: Path, write: Callable[[Path], None]) -> None:
    """Create ``target`` through a temporary file beside its folder, so readers never see a partial graph."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent.parent, prefix=".partial-") as tmp:
        partial = Path(tmp) / target.name
        write(partial)
        os.replace(partial, target)


def _build(shape: GraphShape, target: Path, init: Path | None = None) -> None:
    command = [
        sys.executable, "-m", "alab_training.trainers.ner.graph_builder", str(target.parent),
        "--tags", str(shape.tags), "--dim", str(shape.dim), "--chars", str(shape.chars), "--lstm", str(shape.lstm),
    ]
    if init is not None:
        command += ["--init-from", str(init)]
    env = child_environment()
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=_BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise EngineError(
            f"building NerDL graph {shape.filename} took over {_BUILD_TIMEOUT_S} s", command=" ".join(command)
        ) from exc
    if result.returncode != 0 or not target.is_file():
        raise EngineError(
            f"building NerDL graph {shape.filename} failed (exit {result.returncode})",
            command=" ".join(command),
            detail=result.stderr[-4000:],
        )

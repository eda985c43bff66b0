"""The script trainer: a user's Python script trains an NER model in its own process, under a time limit.

The contract — the arguments, the files the script receives, what it must write, the progress lines it may
print, the time limit and what a failure looks like — is ``docs/custom-scripts.md``;
``examples/custom_script/train_ner.py`` follows it. The training data is converted exactly as the NER trainer
converts it (the same tokenizer and IOB rules), so a script's scores compare with the built-in trainer's.

The model is an NER model like the built-in one: kind ``ner``, named ``ner_<project>_annotation_manual``, and
when the script saves a Spark ``PipelineModel`` ending in a ``ner_chunk`` column, ``load_model`` and
``predict`` use it as they use the NER trainer's.
"""

from __future__ import annotations

import hashlib
import json
import math
import shlex
import signal
import sys
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import attrs

from alab_training.errors import ParamsError, TrainingError
from alab_training.model import Completion, EpochFinished, Evaluated, Project, TrainingEvent, TrainingStarted
from alab_training.params import TrainingParams, params_to_dict
from alab_training.runtime.children import child_environment
from alab_training.trainers.base import Trainer, TrainingRequest, default_model_name
from alab_training.trainers.running import TrainerRun, selection_lines
from alab_training.trainers.script.process import GroupProcess
from alab_training.trainers.text import Sentence, check_ner_trainable, write_conll_data

__all__ = ["DEFAULT_TIMEOUT", "METRICS", "MODEL_DIR", "PROGRESS", "ScriptTrainer", "read_metrics", "script_path"]

#: Seconds a script may run when ``params.script_timeout`` is not set.
DEFAULT_TIMEOUT = 2 * 3600.0
#: The prefix of a progress line on the script's stdout; a JSON object follows it.
PROGRESS = "PROGRESS "
#: What the script writes into the model folder: its model directory and its scores.
MODEL_DIR = "model"
METRICS = "metrics.json"

_SELECTION_FORMAT = 1
_SHARES = ("precision", "recall", "f1")


def script_path(params: TrainingParams) -> Path:
    """The script ``params`` names, made absolute.

    Raises:
        ParamsError: no script given, or the path is missing or not a file (``field="script"``).
    """
    if params.script is None:
        raise ParamsError('training_type="script" needs script=<the path of a Python training script>',
                          field="script")
    path = Path(params.script).expanduser()
    if not path.exists():
        raise ParamsError(f"{params.script!r} does not exist", field="script", value=params.script)
    if not path.is_file():
        raise ParamsError(f"{params.script!r} is not a file", field="script", value=params.script)
    return path.resolve()


def read_metrics(path: Path) -> dict[str, dict[str, float]]:
    """A script's ``metrics.json``, checked against the documented schema.

    The schema: ``{label | "micro" | "macro": {"precision", "recall", "f1", "support", …}}``, shares in [0, 1],
    ``support`` a count, a ``micro`` row whenever there are rows; ``{}`` when there was nothing to score.

    Raises:
        ValueError: the file is missing, not JSON, or breaks the schema; the message names the place
            (``$.micro.f1``).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError("missing (write {} when there is nothing to score)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"$: expected an object of rows, got {type(data).__name__}")
    if data and "micro" not in data:
        raise ValueError('$: no "micro" row (label rows, "micro" and "macro" are expected)')
    for row, figures in data.items():
        where = f"$.{row}"
        if not isinstance(figures, dict):
            raise ValueError(f"{where}: expected an object of figures, got {type(figures).__name__}")
        missing = [name for name in (*_SHARES, "support") if name not in figures]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}")
        for name, value in figures.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{where}.{name}: expected a number, got {value!r}")
        for name in _SHARES:
            if not 0 <= figures[name] <= 1:
                raise ValueError(f"{where}.{name}: {figures[name]!r} is outside [0, 1]")
        if figures["support"] < 0 or figures["support"] != int(figures["support"]):
            raise ValueError(f"{where}.support: expected a count, got {figures['support']!r}")
    return data


def _progress(text: str) -> EpochFinished:
    """``{"epoch": 1, "epochs": 5, "loss": 0.3, "seconds": 12.5}`` (``loss`` and ``seconds`` optional)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    counts = [data.get(name) for name in ("epoch", "epochs")]
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in counts):
        raise ValueError('"epoch" and "epochs" must be integers >= 1')
    optional = [data.get(name) for name in ("loss", "seconds")]
    if not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in optional):
        raise ValueError('"loss" and "seconds" must be numbers or null')
    loss, seconds = (float(v) if v is not None and math.isfinite(v) else None for v in optional)
    return EpochFinished(counts[0], counts[1], loss, seconds)


def _completion(completion: Completion) -> dict[str, Any]:
    return {
        "id": completion.id,
        "annotator": completion.annotator,
        "submitted_at": completion.submitted_at.isoformat() if completion.submitted_at else None,
        "accepted": completion.accepted,
        "spans": [{"id": s.region_id, "start": s.start, "end": s.end, "text": s.text, "labels": list(s.labels),
                   "from_name": s.from_name} for s in completion.spans],
        "choices": [{"from_name": c.from_name, "choices": list(c.choices)} for c in completion.choices],
        "relations": [{"from_id": r.from_id, "to_id": r.to_id, "labels": list(r.labels)}
                      for r in completion.relations],
    }


def _selection_document(request: TrainingRequest, tagged: Sequence[Sequence[Sentence]]) -> dict[str, Any]:
    """``selection.json``: every used task with its chosen completion, in CoNLL order; the schema is documented."""
    selection = request.selection
    return {
        "format": _SELECTION_FORMAT,
        "project": request.project.name,
        "entity_labels": list(request.project.config.ner_labels),
        "tasks": [{"id": item.task.id, "split": item.split, "title": item.task.title, "tags": list(item.task.tags),
                   "text": item.task.text, "sentences": sum(1 for s in task_sentences if s.tokens),
                   "completion": _completion(item.completion)}
                  for item, task_sentences in zip(selection.items, tagged)],
        "excluded": [{"task": task.id, "reason": reason.code} for task, reason in selection.excluded],
    }


def _exit_text(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"failed with exit code {returncode}"


class ScriptTrainer(Trainer):
    """Runs the user's script (``params.script``) on the converted NER data; see the module docstring."""

    training_type = "script"

    def model_name(self, project: Project, params: TrainingParams) -> str:
        """An NER model's name: a script's model is used (and deployed) as the NER trainer's would be."""
        return default_model_name("ner", project)

    def train(self, request: TrainingRequest) -> Iterator[TrainingEvent]:
        """Run the user's script on the converted data (see the module docstring)."""
        script = script_path(request.params)
        check_ner_trainable(request, self.training_type)
        yield from _ScriptRun(request, script).events()


class _ScriptRun(TrainerRun):
    """One script training: its model folder (``data/``, ``model/``, ``metrics.json``, the log) and its process."""

    title = "script training"
    scratch = ()

    def __init__(self, request: TrainingRequest, script: Path) -> None:
        super().__init__(request, source=None)
        # Absolute in params.json and the card: a relative path means nothing from the script's working folder.
        self.params = attrs.evolve(request.params, script=str(script))
        self.script = script

    def _events(self) -> Iterator[TrainingEvent]:
        request = self.request
        digest = hashlib.sha256(self.script.read_bytes()).hexdigest()
        timeout = self.params.script_timeout or DEFAULT_TIMEOUT
        yield from self.log.write(*self.header(), f"script: {self.script} (sha256 {digest})",
                                  f"time limit: {timeout:g}s", *selection_lines(request))
        train_count, test_count, labels = yield from self._write_inputs()
        yield TrainingStarted(ScriptTrainer.training_type, train_count, test_count, self.params.epochs or 0)

        process = yield from self._run(timeout)
        metrics = self._outputs(process, timeout)
        if metrics:
            yield from self.log.write("", f"scores on the test side (the script's {METRICS}):",
                                      *(f"  {row}: " + ", ".join(f"{name} {value:.4g}" for name, value in
                                                                 figures.items()) for row, figures in metrics.items()))
            yield Evaluated(metrics)
        elif test_count:
            yield from self.log.write("", f"the script scored nothing although the test side has {test_count} "
                                          "sentence(s)")
        control = request.project.config.labels_controls[0]
        yield from self.finish(kind="ner", labels=labels, metrics=metrics, extra={
            "pipeline": MODEL_DIR, "script": str(self.script), "script_sha256": digest,
            "from_name": control.name, "to_name": control.to_name, "train_sentences": train_count,
            "test_sentences": test_count,
        })

    def _write_inputs(self) -> Generator[TrainingEvent, None, tuple[int, int, tuple[str, ...]]]:
        """The script's input files in ``data/``: the CoNLL of each side, the selection and the params."""
        request = self.request
        data = write_conll_data(self.spark(), request.selection, request.project.config, self.work)
        yield from self.log.write("conversion:", *("  " + line for line in data.report.lines()))
        (self.work / "selection.json").write_text(json.dumps(_selection_document(request, data.tagged), indent=1,
                                                             ensure_ascii=False), encoding="utf-8")
        (self.work / "params.json").write_text(json.dumps(params_to_dict(self.params), indent=1), encoding="utf-8")
        return data.train_count, data.test_count, data.labels

    def _command(self) -> list[str]:
        data = self.work
        return [sys.executable, "-u", str(self.script),
                "--train", str(data / "train.conll"), "--test", str(data / "test.conll"),
                "--selection", str(data / "selection.json"), "--params", str(data / "params.json"),
                "--model-dir", str(self.out / MODEL_DIR), "--metrics", str(self.out / METRICS)]

    def _run(self, timeout: float) -> Generator[TrainingEvent, None, GroupProcess]:
        command = self._command()
        yield from self.log.write(f"running: {shlex.join(command)}")
        env = child_environment()
        try:
            process = GroupProcess(command, cwd=self.out, env=env, timeout=timeout)
        except OSError as exc:
            raise TrainingError(f"the script could not be started: {exc}", training_type="script") from exc
        with process:
            for stream, line in process.lines():
                yield from self._line(stream, line)
        yield from self.log.write(f"the script {_exit_text(process.returncode)}" if process.returncode
                                  else "the script exited with code 0")
        return process

    def _line(self, stream: str, line: str) -> Iterator[TrainingEvent]:
        if stream == "stderr":
            yield from self.log.write(f"stderr: {line}")
            return
        yield from self.log.write(line)
        if line.startswith(PROGRESS):
            try:
                epoch = _progress(line[len(PROGRESS):])
            except ValueError as exc:
                yield from self.log.write(f"  (ignored: not a progress line: {exc})")
            else:
                yield epoch

    def _outputs(self, process: GroupProcess, timeout: float) -> dict[str, dict[str, float]]:
        """The scores, once the run is known to have succeeded and left a model."""
        if process.timed_out:
            self._fail(process, f"the script ran longer than its time limit ({timeout:g}s) and was stopped")
        if process.returncode != 0:
            self._fail(process, f"the script {_exit_text(process.returncode)}")
        model_dir = self.out / MODEL_DIR
        if not model_dir.is_dir():
            self._fail(process, f"the script exited without writing its model directory ({model_dir})")
        if not any(model_dir.iterdir()):
            self._fail(process, f"the script left its model directory empty ({model_dir})")
        try:
            return read_metrics(self.out / METRICS)
        except ValueError as exc:
            self._fail(process, f"the script's {METRICS} is unusable: {exc}")

    def _fail(self, process: GroupProcess, message: str) -> NoReturn:
        """Raise the training's error: the reason, then the script's last stderr lines (also in the log)."""
        tail = list(process.stderr_tail)
        detail = (f"the script's last {len(tail)} stderr line(s):\n" + "\n".join(tail) if tail
                  else "the script wrote nothing to stderr")
        self.log.write("", f"failed: {message}", detail)
        raise TrainingError(message, training_type=ScriptTrainer.training_type, detail=detail)

"""Active learning: one training per N new completions, across restarts, and failed trainings retried."""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

import attrs
import pytest

from alab_training import TrainingParams, load_project
from alab_training.errors import ActiveLearningError, ParamsError, SelectionError
from alab_training.lifecycle.active_learning import (
    ActiveLearning,
    ActiveLearningPolicy,
    rank_by_uncertainty,
    submitted_completions,
)
from alab_training.lifecycle.registry import ModelRegistry
from alab_training.plugins.manager import get_plugin_manager
from tests.conftest import NER_CONFIG

GAZETTEER_SOURCE = Path(__file__).parents[2] / "examples" / "plugins" / "alab-training-gazetteer" / "src"
POLICY = ActiveLearningPolicy(every=3, params=TrainingParams(training_type="gazetteer", validation_split=0.3))


@pytest.fixture(autouse=True)
def gazetteer():
    """The example third-party trainer (real, and fast: no Spark), registered in this process."""
    sys.path.insert(0, str(GAZETTEER_SOURCE))
    module = importlib.import_module("alab_training_gazetteer")
    manager = get_plugin_manager()
    manager.register(module, name="gazetteer-test")
    yield
    manager.unregister(name="gazetteer-test")
    sys.path.remove(str(GAZETTEER_SOURCE))


def project_with(completed: int, total: int = 12):
    """``total`` tasks on fevers, the first ``completed`` with a submitted completion."""
    tasks = []
    for index in range(total):
        text = f"Patient {index} had a fever and a cough."
        task = {"id": index + 1, "data": {"text": text}, "completions": []}
        if index < completed:
            start = text.index("fever")
            task["completions"].append({
                "id": 100 + index, "submitted_at": f"2024-01-01T00:00:{index:02d}",
                "result": [{"id": f"r{index}", "type": "labels", "from_name": "label", "to_name": "text",
                            "value": {"start": start, "end": start + 5, "text": "fever", "labels": ["PROBLEM"]}}]})
        tasks.append(task)
    return load_project(tasks, config=NER_CONFIG, name="fevers")


def test_trains_once_per_n_new_completions_across_a_restart(tmp_path):
    models = tmp_path / "models"
    learning = ActiveLearning(tmp_path / "state", output_dir=models)
    learning.set_policy("fevers", POLICY)

    assert learning.update(project_with(2)) is None  # 2 of 3
    result = learning.update(project_with(3))
    assert result.models[0].trigger == "active_learning"
    assert learning.update(project_with(3)) is None  # asked twice: no second training

    restarted = ActiveLearning(tmp_path / "state", output_dir=models)  # the host restarts
    assert restarted.update(project_with(5)) is None  # 2 new since the trigger at 3
    assert restarted.check(project_with(5)).new == 2
    assert restarted.update(project_with(6)) is not None
    assert restarted.update(project_with(7)) is None

    trained = ModelRegistry(models).list(project="fevers")
    assert len(trained) == 2 and {m.trigger for m in trained} == {"active_learning"}
    assert restarted.state("fevers").trainings == 2 and restarted.state("fevers").counted == 6


def test_a_failed_training_does_not_use_up_its_completions(tmp_path):
    learning = ActiveLearning(tmp_path / "state", output_dir=tmp_path / "models")
    # NER refuses before Spark starts: the tag filter leaves nothing to train on.
    broken = attrs.evolve(POLICY, params=TrainingParams(training_type="ner", tags=("nothing-has-it",)))
    learning.set_policy("fevers", broken)
    with pytest.raises(SelectionError, match="no task is left"):
        learning.update(project_with(4))
    assert learning.state("fevers").counted == 0
    learning.set_policy("fevers", POLICY)
    assert learning.update(project_with(4)) is not None


def test_off_until_a_policy_is_set_and_policies_persist(tmp_path):
    learning = ActiveLearning(tmp_path / "state")
    assert learning.check(project_with(10)).due is False
    learning.set_policy("fevers", attrs.evolve(POLICY, every=100, deploy=True))
    assert ActiveLearning(tmp_path / "state").policy("fevers") == attrs.evolve(POLICY, every=100, deploy=True)
    assert submitted_completions(project_with(10)) == 10
    learning.set_policy("fevers", None)
    assert learning.policy("fevers") is None


@pytest.mark.parametrize("every", [0, -5, 2.5, True, None, 2**53 + 1, 10**5000], ids=lambda every: type(every).__name__)
def test_the_interval_must_be_a_positive_count(every):
    with pytest.raises(ParamsError, match="positive"):
        ActiveLearningPolicy(every=every)


def test_a_damaged_state_file_is_a_clear_error(tmp_path):
    learning = ActiveLearning(tmp_path)
    learning.set_policy("fevers", POLICY)
    [policy] = tmp_path.glob("fevers-*.policy.json")
    state = policy.with_name(policy.name.replace(".policy.", ".state."))
    state.write_text(json.dumps({"counted": "many"}))
    with pytest.raises(ActiveLearningError, match=r"fevers-[0-9a-f]{12}\.state\.json"):
        learning.check(project_with(4))


@pytest.mark.spark
def test_ranks_unlabelled_tasks_by_uncertainty(spark, tmp_path):
    from alab_training import load_model, train
    from tests.trainers.classification.test_trainer import sms_project

    project = sms_project()
    result = train(project, TrainingParams(training_type="classification", epochs=5), spark=spark,
                   output_dir=tmp_path)
    unlabelled = attrs.evolve(project, tasks=tuple(attrs.evolve(t, completions=()) for t in project.tasks[:30]))
    ranked = rank_by_uncertainty(load_model(result.models[0], spark), unlabelled, limit=25)
    assert len(ranked) == 25 and {r.task_id for r in ranked} <= {t.id for t in unlabelled.tasks}
    scores = [r.uncertainty for r in ranked]
    assert None not in scores and scores == sorted(scores, reverse=True) and 0 <= scores[-1] <= scores[0] <= 0.5
    assert scores[0] > scores[-1]  # a trained model is not equally sure of every message


# -- state files that are not what they should be ---------------------------------------------------------------

def state_file(learning: ActiveLearning, project: str = "fevers") -> Path:
    learning.set_policy(project, POLICY)
    [policy] = learning.state_dir.glob("*.policy.json")
    return policy.with_name(policy.name.replace(".policy.", ".state."))


STATE = {"counted": 3, "previous": 0, "trainings": 1, "job_id": None, "triggered_at": None}


@pytest.mark.parametrize("content", [
    "{not json", "[1, 2]", '"counted"', "null", "[" * 50_000 + "]" * 50_000, json.dumps({**STATE, "counted": 1e300}),
    '{"counted": ' + "9" * 5000 + "}", json.dumps({**STATE, "counted": -1}), json.dumps({**STATE, "counted": 2.5}),
    json.dumps({**STATE, "counted": True}), json.dumps({**STATE, "job_id": 7}), json.dumps({"counted": 3}),
    json.dumps({**STATE, "triggered_at": "soon"}), "\xff\xfe not utf-8", json.dumps({**STATE, "counted": 10**30}),
])
def test_a_corrupt_state_file_is_an_active_learning_error_naming_it(tmp_path, content):
    learning = ActiveLearning(tmp_path)
    path = state_file(learning)
    path.write_bytes(content.encode("latin-1") if content.startswith("\xff") else content.encode())
    with pytest.raises(ActiveLearningError) as error:
        learning.check(project_with(4))
    assert error.value.path == path
    with pytest.raises(ActiveLearningError):
        learning.update(project_with(4))
    assert learning.state_dir.joinpath(path.name).read_bytes()  # left as it was, for a person to look at


@pytest.mark.parametrize("field, value", [("deploy", "no"), ("deploy", 0), ("versioning", "yes"), ("every", "50"),
                                          ("every", 1e300), ("params", ["ner"]), ("params", {"epochz": 3})])
def test_a_policy_file_is_read_for_what_it_says_or_refused(tmp_path, field, value):
    learning = ActiveLearning(tmp_path)
    learning.set_policy("fevers", POLICY)
    [path] = tmp_path.glob("*.policy.json")
    path.write_text(json.dumps({**json.loads(path.read_text()), field: value}))
    with pytest.raises(ActiveLearningError, match=r"policy\.json"):
        learning.policy("fevers")


def test_a_fifo_state_file_is_refused_at_once(tmp_path):
    import os
    import threading

    learning = ActiveLearning(tmp_path)
    path = state_file(learning)
    os.mkfifo(path)
    caught = []
    thread = threading.Thread(target=lambda: caught.append(pytest.raises(ActiveLearningError, learning.state,
                                                                         "fevers")))
    thread.start()
    thread.join(5)
    assert caught and "FIFO" in str(caught[0].value)


def test_projects_whose_names_read_alike_have_files_of_their_own(tmp_path):
    learning = ActiveLearning(tmp_path)
    learning.set_policy("Dept A", attrs.evolve(POLICY, every=7))
    learning.set_policy("Dept_A", attrs.evolve(POLICY, every=9))
    learning.set_policy("dept a", None)
    assert (learning.policy("Dept A").every, learning.policy("Dept_A").every) == (7, 9)
    assert learning.policy("dept a") is None and len(list(tmp_path.glob("*.policy.json"))) == 2


def test_a_project_name_of_any_length_or_character_fits_the_file_system(tmp_path):
    learning = ActiveLearning(tmp_path)
    for name in ("x" * 1000, "ü" * 300, "../../etc/passwd", ".hidden", "\ud800 lone", "a/b\\c\0d"):
        learning.set_policy(name, POLICY)
        assert learning.policy(name) == POLICY
    assert {path.parent for path in tmp_path.rglob("*")} == {tmp_path}
    assert all(len(os.fsencode(path.name)) < 255 for path in tmp_path.iterdir())


def test_a_full_disk_is_an_active_learning_error_and_nothing_trains(tmp_path, monkeypatch):
    import errno

    from alab_training.files import writing

    learning = ActiveLearning(tmp_path, output_dir=tmp_path / "models")
    learning.set_policy("fevers", POLICY)

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writing.os, "write", full)
    with pytest.raises(ActiveLearningError, match="No space left"):
        learning.update(project_with(4))
    monkeypatch.undo()
    assert learning.state("fevers").counted == 0 and not (tmp_path / "models").exists()
    assert [p.name for p in tmp_path.glob(".*.tmp")] == []


NOBODY = 65534


@pytest.mark.skipif(os.geteuid() != 0, reason="drops to another user: needs root")
def test_a_read_only_state_folder_is_an_active_learning_error(outside_tmp_path):
    import multiprocessing

    root_owned = outside_tmp_path(0o755)  # root's: everyone may read it, nobody write it
    fork = multiprocessing.get_context("fork")
    ActiveLearning(root_owned).set_policy("fevers", POLICY)
    queue = fork.Queue()

    def child():
        outcomes = []
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            learning = ActiveLearning(root_owned)
            outcomes.append(learning.policy("fevers") == POLICY)
            for call in (lambda: learning.set_policy("other", POLICY), lambda: learning.update(project_with(4)),
                         lambda: ActiveLearning(root_owned / "below")):
                try:
                    call()
                    outcomes.append("no error")
                except ActiveLearningError:
                    outcomes.append("ActiveLearningError")
        except BaseException as error:  # reported, not lost with the child
            outcomes.append(f"{type(error).__name__}: {error}")
        queue.put(outcomes)

    process = fork.Process(target=child)
    process.start()
    try:
        assert queue.get(timeout=30) == [True, "ActiveLearningError", "ActiveLearningError", "ActiveLearningError"]
    finally:
        process.join(30)


@pytest.mark.parametrize("call", [
    lambda tmp: ActiveLearning(None), lambda tmp: ActiveLearning(tmp, output_dir=5),
    lambda tmp: ActiveLearning(tmp).update(None), lambda tmp: ActiveLearning(tmp).check({"name": "p"}),
    lambda tmp: ActiveLearning(tmp).set_policy("p", {"every": 3}), lambda tmp: ActiveLearning(tmp).policy(None),
    lambda tmp: ActiveLearning(tmp).state(""), lambda tmp: ActiveLearningPolicy(deploy="no"),
    lambda tmp: ActiveLearningPolicy(params={"training_type": "ner"}), lambda tmp: ActiveLearningPolicy(every=None),
    lambda tmp: rank_by_uncertainty([], None), lambda tmp: rank_by_uncertainty([], project_with(1), limit="5"),
])
def test_wrong_arguments_are_params_errors(tmp_path, call):
    with pytest.raises(ParamsError):
        call(tmp_path)


def test_a_runner_that_is_no_runner_is_refused_before_the_folder_is_made(tmp_path):
    with pytest.raises(ParamsError) as error:
        ActiveLearning(tmp_path / "state", runner="jobs")
    assert error.value.field == "runner" and not (tmp_path / "state").exists()


def test_the_largest_interval_is_written_and_read_back(tmp_path):
    from alab_training.lifecycle.active_learning import MAX_COUNT

    learning = ActiveLearning(tmp_path)
    learning.set_policy("fevers", attrs.evolve(POLICY, every=MAX_COUNT))
    assert learning.policy("fevers").every == MAX_COUNT


def test_a_runner_that_refuses_the_job_leaves_the_completions_counting(tmp_path):
    class Refusing:
        def submit(self, *args, **kwargs):
            raise ParamsError("cannot store it", field="project", value=None)

        def is_training(self, project):
            return False

        def get(self, job_id):
            raise AssertionError("no job was ever submitted")

    learning = ActiveLearning(tmp_path, runner=Refusing())
    learning.set_policy("fevers", POLICY)
    before = learning.state("fevers")
    with pytest.raises(ParamsError):
        learning.update(project_with(4))
    assert learning.state("fevers") == before and learning.check(project_with(4)).due

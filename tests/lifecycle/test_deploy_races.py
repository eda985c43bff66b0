"""Deploys that meet other writers: another deploy, a host that takes the lock, a kill mid-write; and configs whose
rewrite would undo what somebody chose (a read-only file, another owner, hard links)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alab_training import ConfigError, load_config, load_project
from alab_training.files import lock_path, locked
from alab_training.lifecycle.deploy import deploy
from alab_training.model import TrainedModel

SPAWN = multiprocessing.get_context("spawn")
LABELS = "ABCD"
CONFIG = ('<View>\n  <Text name="text" value="$text"/>\n  <Labels name="label" toName="text">\n'
          + "".join(f'    <Label value="{label}"/>\n' for label in LABELS) + "  </Labels>\n</View>\n")
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="changes owners: needs root")


def model(label: str) -> TrainedModel:
    return TrainedModel(name=f"ner_{label.lower()}", kind="ner", path=Path("."), labels=(label,))


def assigned(path: Path) -> dict[str, str | None]:
    return {label.value: label.model for label in load_config(path).labels_controls[0].labels}


def _deploy_in_a_process(path: str, label: str, loaded_first: bool, barrier, outcomes) -> None:
    target = load_config(path) if loaded_first else path
    barrier.wait()
    try:
        deploy(target, model(label))
        outcomes.put((label, "ok"))
    except ConfigError as error:
        outcomes.put((label, error.rule))


def race(path: Path, *, loaded_first: bool) -> dict[str, str]:
    """One deploy per label, from as many processes, all let go at once; what each reported."""
    barrier, outcomes = SPAWN.Barrier(len(LABELS)), SPAWN.Queue()
    processes = [SPAWN.Process(target=_deploy_in_a_process, args=(str(path), label, loaded_first, barrier, outcomes))
                 for label in LABELS]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    return dict(outcomes.get(timeout=5) for _ in processes)


@pytest.mark.parametrize("rounds", [3])
def test_concurrent_deploys_to_a_path_all_land(tmp_path, rounds):
    for round_ in range(rounds):
        path = tmp_path / f"config{round_}.xml"
        path.write_text(CONFIG)
        outcomes = race(path, loaded_first=False)
        assert outcomes == dict.fromkeys(LABELS, "ok")
        assert assigned(path) == {label: f"ner_{label.lower()}" for label in LABELS}


def test_concurrent_deploys_onto_configs_loaded_before_never_lose_a_reported_success(tmp_path):
    path = tmp_path / "config.xml"
    path.write_text(CONFIG)
    outcomes = race(path, loaded_first=True)
    landed = assigned(path)
    assert set(outcomes.values()) <= {"ok", "config_changed_on_disk"} and "ok" in outcomes.values()
    for label, outcome in outcomes.items():
        assert (landed[label] == f"ner_{label.lower()}") == (outcome == "ok")


def host_writing(path: Path, seconds: float) -> subprocess.Popen:
    """A host that takes the config's lock, holds it ``seconds``, and writes ``A``'s model into the config."""
    script = f"""
import sys, time
from alab_training.files import locked, write_atomically
with locked({str(path)!r}) as target:
    print("locked", flush=True)
    time.sleep({seconds})
    write_atomically(target, target.read_text().replace('value="A"', 'value="A" model="ner_host"'))
"""
    host = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert host.stdout.readline() == "locked\n"
    return host


def test_a_host_holding_the_lock_makes_deploy_wait_then_build_on_its_write(tmp_path):
    path = tmp_path / "config.xml"
    path.write_text(CONFIG)
    host = host_writing(path, 1.0)
    try:
        started = time.monotonic()
        deploy(path, model("B"))
        assert time.monotonic() - started > 0.5  # it waited for the host
    finally:
        host.wait(10)
    assert assigned(path) == {"A": "ner_host", "B": "ner_b", "C": None, "D": None}


def test_a_project_loaded_before_a_hosts_write_is_refused_not_written_over_it(tmp_path):
    path = tmp_path / "config.xml"
    path.write_text(CONFIG)
    project = load_project([{"id": 1, "data": {"text": "x"}}], config=path, name="p")
    host = host_writing(path, 0.5)
    try:
        with pytest.raises(ConfigError) as error:
            deploy(project, model("C"))  # as train(deploy=True) does, with the project it trained
    finally:
        host.wait(10)
    assert error.value.rule == "config_changed_on_disk"
    assert assigned(path) == {"A": "ner_host", "B": None, "C": None, "D": None}


def test_a_lock_held_too_long_is_a_config_error_not_a_hang(tmp_path, monkeypatch):
    path = tmp_path / "config.xml"
    path.write_text(CONFIG)
    script = f"import time\nfrom alab_training.files import locked\nwith locked({str(path)!r}):\n" \
             "    print('locked', flush=True)\n    time.sleep(30)\n"
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        monkeypatch.setattr("alab_training.lifecycle.deploy.locked",
                            lambda source: locked(source, timeout=0.2))
        with pytest.raises(ConfigError, match="cannot lock the labeling config"):
            deploy(path, model("A"))
    finally:
        holder.kill()
        holder.wait(10)
    assert path.read_text() == CONFIG


@pytest.mark.parametrize("call", ["fsync", "replace"])
def test_a_deploy_killed_at_any_moment_leaves_the_old_or_the_new_file_and_the_next_cleans_up(tmp_path, call):
    path = tmp_path / "config.xml"
    path.write_text(CONFIG)
    script = f"""
import os, sys
from pathlib import Path
from alab_training.lifecycle.deploy import deploy
from alab_training.model import TrainedModel
real = os.{call}
def paused(*args):
    print("writing", flush=True)
    sys.stdin.readline()  # killed here: flushing its file (no name yet), or about to rename it
    real(*args)
os.{call} = paused
deploy({str(path)!r}, TrainedModel(name="ner_a", kind="ner", path=Path("."), labels=("A",)))
"""
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "writing\n"
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    assert path.read_text() == CONFIG
    left = [p.name for p in tmp_path.glob(".config.xml.*.tmp")]
    assert len(left) == (call == "replace")  # a file gets its name only for the rename
    with locked(path):  # any later holder of the lock sweeps it away, here a host
        pass
    assert list(tmp_path.glob(".config.xml.*.tmp")) == []
    assert deploy(path, model("A")).written == path.resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == [lock_path(path.resolve()).name, "config.xml"]


def test_a_read_only_config_is_refused_and_left_as_it_is(tmp_path):
    path = tmp_path / "config.xml"
    path.write_text(CONFIG)
    path.chmod(0o444)
    with pytest.raises(ConfigError, match="read-only"):
        deploy(path, model("A"))
    assert path.read_text() == CONFIG and (path.stat().st_mode & 0o777) == 0o444


def test_a_hard_linked_config_is_refused_rather_than_split(tmp_path):
    path = tmp_path / "config.xml"
    path.write_text(CONFIG)
    os.link(path, tmp_path / "other-name.xml")
    with pytest.raises(ConfigError, match="hard links"):
        deploy(path, model("A"))
    assert os.stat(path).st_ino == os.stat(tmp_path / "other-name.xml").st_ino and path.read_text() == CONFIG


@as_root
def test_the_annotation_tools_config_keeps_its_owner_and_mode(tmp_path):
    path = tmp_path / "config.xml"
    path.write_text(CONFIG)
    os.chown(path, 65534, 65534)
    path.chmod(0o640)
    assert deploy(path, model("A")).written == path.resolve()
    status = path.stat()
    assert (status.st_uid, status.st_gid, status.st_mode & 0o777) == (65534, 65534, 0o640)
    assert assigned(path)["A"] == "ner_a"

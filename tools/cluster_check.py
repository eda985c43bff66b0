"""Train through ``train(project, params, spark=session)`` on a Spark standalone cluster started on this machine.

    .venv/bin/python tools/cluster_check.py [--train-tasks 30] [--test-tasks 10] [--epochs 2]
                                           [--embeddings minilm_l6_v2] [--worker-memory 2g] [--driver-memory 3g]

Starts a standalone master and two workers (1 core each) from the pip ``pyspark`` distribution, all bound to
127.0.0.1 on free ports; builds a SparkSession against the master the way a cluster user would (the Spark NLP
jars from our provisioned cache in ``spark.jars``, shipped by Spark to the executors; the driver UI on for its
REST API); trains NER on a slice of ``examples/ncbi_disease`` (the first train and test tasks); and proves the
work ran on the workers:

- the master's JSON (``/json``) lists both workers ALIVE and, while the application runs, one core of each in use;
- each worker's JSON lists an executor of our application;
- the driver's REST API (``/api/v1/applications/<id>/executors``) shows each of the two executors completed
  tasks, and the driver none (in standalone mode every task runs in an executor).

``--embeddings`` names the vectors (default: the NER trainer's, GloVe 6B 50d); with ``minilm_l6_v2`` the
transformer encoder's ONNX graph runs in the executors.

NerDL fits its TensorFlow graph in the driver (Spark NLP collects the prepared batches there); reading and
tokenizing the tasks, the embeddings lookups, writing and scoring the test set are Spark jobs, run on the workers.

Prints the figures; exits 1 if any proof is missing, 2 if the cluster or the training fails. The cluster (every
process group it started) and its scratch folder are removed however the check ends.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "ncbi_disease"
HOST = "127.0.0.1"
WORKERS = 2


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def fetch_json(url: str, timeout: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.load(answer)


def wait_for(what: str, check, timeout: float = 90.0):
    """Poll ``check()`` until it returns something truthy; raise with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except (OSError, ValueError, urllib.error.URLError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(1)


class Cluster:
    """The master's and workers' processes, ports and log files."""

    def __init__(self, scratch: Path, worker_memory: str) -> None:
        import pyspark

        self.spark_home = Path(pyspark.__file__).parent
        self.scratch = scratch
        self.worker_memory = worker_memory
        self.master_port, self.master_ui = free_port(), free_port()
        self.worker_uis = [free_port() for _ in range(WORKERS)]
        self.processes: list[tuple[str, subprocess.Popen]] = []

    @property
    def url(self) -> str:
        return f"spark://{HOST}:{self.master_port}"

    def _launch(self, name: str, *arguments: str) -> None:
        env = {**os.environ, "SPARK_HOME": str(self.spark_home), "SPARK_LOCAL_IP": HOST,
               # The daemons only schedule; the executors they launch get the worker memory.
               "SPARK_DAEMON_MEMORY": "256m", "SPARK_LOG_DIR": str(self.scratch / "logs"),
               "PYSPARK_PYTHON": sys.executable}
        log = (self.scratch / f"{name}.log").open("w")
        # Its own session: the process group (the daemon and the executors it forks) is killed as one.
        process = subprocess.Popen([str(self.spark_home / "bin" / "spark-class"), *arguments], env=env,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.processes.append((name, process))

    def master_state(self) -> dict:
        return fetch_json(f"http://{HOST}:{self.master_ui}/json/")

    def worker_state(self, index: int) -> dict:
        return fetch_json(f"http://{HOST}:{self.worker_uis[index]}/json/")

    def start(self) -> None:
        self._launch("master", "org.apache.spark.deploy.master.Master", "--host", HOST,
                     "--port", str(self.master_port), "--webui-port", str(self.master_ui))
        wait_for("the master", lambda: self.master_state().get("status") == "ALIVE")
        for index, ui in enumerate(self.worker_uis):
            work = self.scratch / f"worker-{index}"
            work.mkdir()
            self._launch(f"worker-{index}", "org.apache.spark.deploy.worker.Worker", self.url, "--host", HOST,
                         "--cores", "1", "--memory", self.worker_memory, "--webui-port", str(ui),
                         "--work-dir", str(work))
        wait_for(f"{WORKERS} workers", lambda: sum(w["state"] == "ALIVE"
                                                   for w in self.master_state()["workers"]) == WORKERS)

    def stop(self) -> None:
        for _, process in reversed(self.processes):
            _kill_group(process, signal.SIGTERM)
        for name, process in reversed(self.processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop on SIGTERM; killing it", file=sys.stderr)
                _kill_group(process, signal.SIGKILL)
                process.wait(timeout=20)

    def log_tail(self, lines: int = 15) -> str:
        parts = []
        for name, _ in self.processes:
            text = (self.scratch / f"{name}.log").read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {name}.log\n" + "\n".join(text))
        return "\n".join(parts)


def _kill_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


@contextmanager
def standalone_cluster(worker_memory: str) -> Iterator[Cluster]:
    """A master and two workers on this machine, stopped (and their scratch removed) however the block ends."""
    scratch = Path(tempfile.mkdtemp(prefix="alab-cluster-"))
    cluster = Cluster(scratch, worker_memory)
    try:
        cluster.start()
        yield cluster
    except BaseException:
        print(cluster.log_tail(), file=sys.stderr)
        raise
    finally:
        cluster.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def cluster_session(cluster: Cluster, *, driver_memory: str, executor_memory: str, ui_port: int):
    """A SparkSession against the standalone master, as a cluster user would build it (not ``start_session``)."""
    from pyspark.sql import SparkSession

    from alab_training.runtime import provision_jars

    os.environ["SPARK_LOCAL_IP"] = HOST
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    settings = {
        "spark.master": cluster.url,
        "spark.app.name": "alab-training-cluster-check",
        "spark.driver.host": HOST,
        "spark.driver.bindAddress": HOST,
        "spark.driver.memory": driver_memory,
        "spark.executor.memory": executor_memory,
        "spark.executor.cores": "1",
        "spark.cores.max": str(WORKERS),
        # Spark serves these to every executor: the cluster needs no copy of its own.
        "spark.jars": ",".join(str(jar) for jar in provision_jars()),
        "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
        "spark.kryoserializer.buffer.max": "2000M",
        "spark.driver.maxResultSize": "0",
        "spark.pyspark.python": sys.executable,
        "spark.ui.enabled": "true",
        "spark.ui.port": str(ui_port),
        "spark.ui.showConsoleProgress": "false",
    }
    builder = SparkSession.builder
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def ncbi_slice(train_tasks: int, test_tasks: int):
    from alab_training import load_project

    tasks = json.loads((EXAMPLE / "export.json").read_text(encoding="utf-8"))
    train = [task for task in tasks if "test" not in task.get("tags", [])][:train_tasks]
    test = [task for task in tasks if "test" in task.get("tags", [])][:test_tasks]
    return load_project(train + test, config=EXAMPLE / "config.xml", name="ncbi_cluster_check")


def executors(ui_port: int, app_id: str) -> list[dict]:
    return fetch_json(f"http://{HOST}:{ui_port}/api/v1/applications/{app_id}/allexecutors")


def run_check(args: argparse.Namespace) -> int:
    from alab_training import TrainingParams, load_model, predict, train

    failures: list[str] = []
    with standalone_cluster(args.worker_memory) as cluster:
        workers = cluster.master_state()["workers"]
        print(f"master {cluster.url} (UI :{cluster.master_ui}); workers: "
              + ", ".join(f"{w['id']} {w['cores']} core(s) {w['memory']} MB" for w in workers), flush=True)
        ui_port = free_port()
        spark = cluster_session(cluster, driver_memory=args.driver_memory, executor_memory=args.worker_memory,
                                ui_port=ui_port)
        try:
            app_id = spark.sparkContext.applicationId
            # Executors register a few seconds after the session starts; training before would still work,
            # but the check wants both workers in the game from the first job on.
            wait_for("an executor on each worker",
                     lambda: len([e for e in executors(ui_port, app_id) if e["id"] != "driver"]) == WORKERS)
            project = ncbi_slice(args.train_tasks, args.test_tasks)
            params = TrainingParams(training_type="ner", test_tags=("test",), epochs=args.epochs,
                                    embeddings=args.embeddings)
            with tempfile.TemporaryDirectory(prefix="alab-cluster-models-") as output:
                started = time.monotonic()
                model = train(project, params, spark=spark, output_dir=output).model("ner")
                seconds = time.monotonic() - started
                saved = (model.path / "pipeline").is_dir()
                # Pre-annotation from the saved model runs on the executors too.
                test_tasks = [task for task in project.tasks if "test" in task.tags]
                predictions = predict(load_model(model.path, spark), test_tasks)
                predicted_spans = sum(len(p["result"]) for p in predictions)
            master = cluster.master_state()
            per_worker = [cluster.worker_state(index) for index in range(WORKERS)]
            figures = executors(ui_port, app_id)
        finally:
            spark.stop()

    print(f"application {app_id}: NER on {args.train_tasks} train + {args.test_tasks} test tasks of NCBI-disease, "
          f"{args.epochs} epochs, embeddings {model.embeddings}: entity micro F1 {model.metrics['micro']['f1']:.4f} "
          f"in {seconds:.1f}s; "
          f"model saved: {saved}")
    ours = [app for app in master["activeapps"] if app["id"] == app_id]
    print(f"master: application {'running' if ours else 'NOT listed'}, "
          f"{ours[0]['cores'] if ours else 0} core(s) granted; cores used per worker: "
          + ", ".join(f"{w['id']}={w['coresused']}" for w in master["workers"]))
    if not ours:
        failures.append("the master does not list the application")
    if [w["coresused"] for w in master["workers"]] != [1] * WORKERS:
        failures.append("not every worker had a core in use by the application")
    host_of = {}
    for state in per_worker:
        mine = [e for e in state.get("executors", []) if e.get("appid") == app_id]
        for executor in mine:
            host_of[str(executor["id"])] = state["id"]
        if not mine:
            failures.append(f"worker {state['id']} ran no executor of the application")
    print(f"{'executor':<9} {'worker':<44} {'host:port':<22} {'tasks done':>10} {'failed':>6} {'task time s':>11}")
    for executor in sorted(figures, key=lambda e: e["id"]):
        is_driver = executor["id"] == "driver"
        # The driver's "totalDuration" is its uptime, not task time: it runs no tasks here.
        busy = "-" if is_driver else f"{executor['totalDuration'] / 1000:.1f}"
        print(f"{executor['id']:<9} {'(driver)' if is_driver else host_of.get(executor['id'], '?'):<44} "
              f"{executor['hostPort']:<22} {executor['completedTasks']:>10} {executor['failedTasks']:>6} {busy:>11}")
    remote = [e for e in figures if e["id"] != "driver"]
    driver_tasks = sum(e["totalTasks"] for e in figures if e["id"] == "driver")
    if len(remote) != WORKERS:
        failures.append(f"{len(remote)} executors instead of {WORKERS}")
    for executor in remote:
        if executor["completedTasks"] == 0:
            failures.append(f"executor {executor['id']} completed no task")
        if executor["id"] not in host_of:
            failures.append(f"executor {executor['id']} is on no worker of the cluster")
    if driver_tasks:
        failures.append(f"the driver ran {driver_tasks} task(s)")
    if not saved or "f1" not in model.metrics.get("micro", {}):
        failures.append("the training produced no saved, scored model")
    print(f"the reloaded model predicted {predicted_spans} span(s) on {len(predictions)} test task(s)")
    if len(predictions) != args.test_tasks:
        failures.append("the reloaded model did not predict on every test task")
    total = sum(e["completedTasks"] for e in remote)
    print(f"tasks completed on the workers: {total}; on the driver: {driver_tasks}")
    for failure in failures:
        print(f"FAILED: {failure}")
    print("cluster check " + ("failed" if failures else "passed"))
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-tasks", type=int, default=30, help="NCBI-disease train tasks (10 sentences each)")
    parser.add_argument("--test-tasks", type=int, default=10, help="NCBI-disease devel tasks scored")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--embeddings", help="the vectors to train on (default: the NER trainer's)")
    parser.add_argument("--worker-memory", default="2g", help="each worker's memory, all given to its executor")
    parser.add_argument("--driver-memory", default="3g")
    args = parser.parse_args(argv)
    # A SIGTERM (a test timeout, a CI stop) must unwind through the finally blocks that stop the cluster.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        return run_check(args)
    except Exception as exc:  # the cluster or the training failed: say so, and leave with a distinct code
        print(f"cluster check could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""Starting an embedded local Spark session with the Spark NLP jars, sized for the machine; and keeping the
engine's own output (Spark NLP's ``println`` lines, log4j's start-up warnings) off the host's terminal.

The engine writes to the JVM's stdout and to log4j. For a session started here, the JVM's stdout and log4j both
go to one file from its launch on, and every line of it reaches Python logging (logger
``alab_training.runtime.session.engine``, level DEBUG). A session the host started itself keeps its settings;
during a training (:func:`quiet_engine`) its ``System.out`` is pointed at the same file.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alab_training.errors import EngineError
from alab_training.runtime.cache import cache_root
from alab_training.runtime.jars import provision_jars

__all__ = ["default_driver_memory", "engine_output", "quiet_engine", "start_session", "total_memory_bytes"]

_LOG = logging.getLogger(__name__)
_ENGINE_LOG = logging.getLogger(f"{__name__}.engine")
_LOG4J = """\
status = error
rootLogger.level = warn
rootLogger.appenderRef.engine.ref = engine
appender.engine.type = File
appender.engine.name = engine
appender.engine.fileName = {path}
appender.engine.append = true
appender.engine.layout.type = PatternLayout
appender.engine.layout.pattern = %d{{yy/MM/dd HH:mm:ss}} %p %c{{1}}: %m%n
"""


class EngineOutput:
    """The file this process's engine writes its output to, and the thread that hands each line to logging."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="alab-training-engine-"))
        self.path = self.folder / "engine.log"
        self.path.touch()
        self.log4j_config = self.folder / "log4j2.properties"
        self.log4j_config.write_text(_LOG4J.format(path=self.path))
        #: The sessions whose ``System.out`` already goes to :attr:`path`.
        self.captured: set[int] = set()
        atexit.register(shutil.rmtree, self.folder, True)
        threading.Thread(target=self._forward, name="alab-training-engine-output", daemon=True).start()

    def _forward(self) -> None:
        with self.path.open(encoding="utf-8", errors="replace") as lines:
            partial = ""
            while True:
                chunk = lines.read()
                if not chunk:
                    threading.Event().wait(0.5)
                    continue
                *complete, partial = (partial + chunk).split("\n")
                for line in complete:
                    if line.strip():
                        _ENGINE_LOG.debug("%s", line.rstrip("\r"))

    @contextlib.contextmanager
    def launching_jvm(self) -> Iterator[None]:
        """While the JVM is launched, this process's stdout is the file, so the JVM inherits it as its own."""
        sys.stdout.flush()
        saved = os.dup(1)
        target = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.dup2(target, 1)
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            os.close(target)


_output: EngineOutput | None = None


def engine_output() -> EngineOutput:
    """This process's :class:`EngineOutput`, made on first use."""
    global _output
    if _output is None:
        _output = EngineOutput()
    return _output


@contextlib.contextmanager
def quiet_engine(spark: Any = None) -> Iterator[None]:
    """Point the JVM's ``System.out`` at the engine file for the duration, for a session this library did not start.

    ``spark`` ``None`` means the active session, if there is one (a session started inside the block by
    :func:`start_session` is quiet from its launch on anyway). A session that already writes there is left alone.
    """
    session = spark
    if session is None and "pyspark.sql" in sys.modules:
        session = sys.modules["pyspark.sql"].SparkSession.getActiveSession()
    output = engine_output()
    if session is None or id(session) in output.captured:
        yield
        return
    system = session.sparkContext._jvm.java.lang.System
    previous = system.out
    jvm = session.sparkContext._jvm
    system.setOut(jvm.java.io.PrintStream(jvm.java.io.FileOutputStream(str(output.path), True), True, "UTF-8"))
    try:
        yield
    finally:
        system.setOut(previous)


def total_memory_bytes() -> int | None:
    """The machine's memory in bytes, ``None`` where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def default_driver_memory() -> str:
    """Two fifths of the machine's memory, between 2 and 12 GB.

    TensorFlow and RocksDB allocate outside the Java heap, so the heap must leave them room; a local driver
    is the only JVM, so it gets no executors' share to split with.
    """
    total = total_memory_bytes()
    if total is None:
        return "4g"
    gigabytes = max(2, min(12, int(total * 0.4 / 2**30)))
    return f"{gigabytes}g"


def _require_spark_nlp(session) -> None:
    from py4j.java_gateway import JavaClass

    if not isinstance(session._jvm.com.johnsnowlabs.nlp.DocumentAssembler, JavaClass):
        raise EngineError("the active Spark session has no Spark NLP jars on its classpath; stop it, or start it "
                          "with alab_training.runtime.start_session() (or add the jars from "
                          "'alab-training engine' to its spark.jars)")


def start_session(
    *,
    memory: str | None = None,
    cores: int | None = None,
    app_name: str = "alab-training",
    conf: dict[str, Any] | None = None,
):
    """A local SparkSession with Spark NLP on the classpath — or the already active session, as it is.

    Args:
        memory: driver memory (``"8g"``); default: :func:`default_driver_memory`, or ``$ALAB_TRAINING_DRIVER_MEMORY``.
        cores: local cores; default: all of them.
        app_name: the Spark application name.
        conf: extra Spark settings, applied last.

    Raises:
        EngineError: the jars cannot be provisioned or the JVM does not start.
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        # A host's or notebook's session is used as it is: re-configuring it would change settings it relies on.
        _require_spark_nlp(active)
        return active
    # The JVM inherits this: TensorFlow's C++ runtime would otherwise print device-placement dumps per graph.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    jars = provision_jars()
    memory = memory or os.environ.get("ALAB_TRAINING_DRIVER_MEMORY") or default_driver_memory()
    cores = cores or os.cpu_count() or 1
    settings: dict[str, Any] = {
        "spark.master": f"local[{cores}]",
        "spark.app.name": app_name,
        "spark.driver.memory": memory,
        "spark.jars": ",".join(str(jar) for jar in jars),
        "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
        "spark.kryoserializer.buffer.max": "2000M",
        "spark.driver.maxResultSize": "0",
        # Few, small partitions: training data here is thousands of rows, not millions.
        "spark.sql.shuffle.partitions": str(max(2, cores * 2)),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.jsl.settings.annotator.log_folder": str(cache_root() / "annotator_logs"),
        # One ONNX thread per Spark task: with a task per core, more threads only contend (measured on 2 cores:
        # twice the encoder throughput of the engine's default 6). Spark NLP reads it once per JVM, at the first
        # use of any of its settings, so it must be set when the session starts.
        "spark.jsl.settings.onnx.intraOpNumThreads": os.environ.get("ALAB_TRAINING_ONNX_THREADS", "1"),
        # Python workers (UDFs) must import the same packages as the driver, not whatever `python3` is first on
        # the PATH (a virtualenv that is not activated).
        "spark.pyspark.python": os.environ.get("PYSPARK_PYTHON", sys.executable),
    }
    output = engine_output()
    settings["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile=file:{output.log4j_config}"
    settings.update(conf or {})
    builder = SparkSession.builder
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        with output.launching_jvm():
            session = builder.getOrCreate()
    except Exception as exc:  # py4j / JVM start-up failures come in many types
        raise EngineError(f"the Spark session did not start: {exc}") from exc
    output.captured.add(id(session))
    session.sparkContext.setLogLevel("ERROR")
    _LOG.info("Spark %s session started (%s, driver memory %s, %d jars)", session.version,
              settings["spark.master"], memory, len(jars))
    return session

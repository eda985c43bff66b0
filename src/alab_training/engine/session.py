"""Starting an embedded local Spark session with the Spark NLP jars, sized for the machine."""

from __future__ import annotations

import logging
import os
from typing import Any

from alab_training.engine.jars import cache_root, provision_jars
from alab_training.errors import EngineError

__all__ = ["default_driver_memory", "start_session", "total_memory_bytes"]

_LOG = logging.getLogger(__name__)


def total_memory_bytes() -> int | None:
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
                          "with alab_training.engine.start_session() (or add the jars from "
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
    }
    settings.update(conf or {})
    builder = SparkSession.builder
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # py4j / JVM start-up failures come in many types
        raise EngineError(f"the Spark session did not start: {exc}") from exc
    session.sparkContext.setLogLevel("ERROR")
    _LOG.info("Spark %s session started (%s, driver memory %s, %d jars)", session.version,
              settings["spark.master"], memory, len(jars))
    return session

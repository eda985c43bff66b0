"""Provisioning the Spark NLP jars: resolved once from Maven Central with Maven, cached, verified.

Spark's own ``spark.jars.packages`` (Ivy) cannot express the dependency overrides some engine versions need
here, and resolves again on every session start; a Maven ``copy-dependencies`` into a cache folder, passed as
``spark.jars``, works offline after the first run and on clusters that cannot reach Maven at all.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import attrs

from alab_training.errors import EngineError
from alab_training.runtime.cache import cache_root, exclusive, sha256_file

__all__ = ["EngineProfile", "engine_profile", "provision_jars"]

_LOG = logging.getLogger(__name__)

#: Jars the Spark runtime already supplies (Spark's own modules, Scala, Hadoop); a second copy breaks the classpath.
_PROVIDED = re.compile(r"^(spark-(?!nlp)|scala-(library|reflect|compiler)-|hadoop-)")


@attrs.frozen
class EngineProfile:
    """The Maven artifacts one Spark NLP version needs.

    Attributes:
        spark_nlp: the Spark NLP (Python package) version the jars must match.
        artifact: the Spark NLP jar's coordinate.
        exclusions: ``group:artifact`` pairs left out of its dependencies.
        extra: coordinates added in their place.
        tensorflow_session_sources: a ``tensorflow-core-api`` sources coordinate; when set, the TensorFlow jar's
            ``org.tensorflow.Session`` is rebuilt from it with the ``initialize()`` method Spark NLP calls.
        why: the reason for any exclusion, substitution or patch, recorded in the manifest.
    """

    spark_nlp: str
    artifact: str
    exclusions: tuple[str, ...] = ("org.scala-lang:scala-library", "org.scala-lang:scala-reflect")
    extra: tuple[str, ...] = ()
    tensorflow_session_sources: str | None = None
    why: str = ""

    @property
    def key(self) -> str:
        """A folder name that changes whenever the resolved set would."""
        digest = hashlib.sha256(repr(attrs.astuple(self)).encode()).hexdigest()[:10]
        return f"spark-nlp-{self.spark_nlp}-{digest}"


#: Versions that need more than Spark NLP's own coordinate mapping to resolve from Maven Central.
_KNOWN_PROFILES = {
    "5.5.3": EngineProfile(
        spark_nlp="5.5.3",
        artifact="com.johnsnowlabs.nlp:spark-nlp_2.12:5.5.3",
        exclusions=(
            "org.scala-lang:scala-library",
            "org.scala-lang:scala-reflect",
            "com.johnsnowlabs.nlp:tensorflow-cpu_2.12",
            "com.johnsnowlabs.nlp:jsl-llamacpp-cpu_2.12",
            "com.johnsnowlabs.nlp:jsl-openvino-cpu_2.12",
        ),
        extra=("com.johnsnowlabs.nlp:tensorflow-cpu_2.12:0.3.3",),
        tensorflow_session_sources="org.tensorflow:tensorflow-core-api:0.3.3:jar:sources",
        why="Maven Central serves neither tensorflow-cpu_2.12:0.4.4 nor the llama.cpp/OpenVINO natives of 5.5.3; "
        "tensorflow-cpu 0.3.3 runs the TF graphs NerDL/ClassifierDL use, llama.cpp/OpenVINO models are not used, "
        "and the one TF-Java 0.4 method Spark NLP 5.5.3 calls that 0.3.3 lacks (Session.initialize, used when a "
        "saved model loads) is added as an alias of 0.3.3's Session.runInit",
    ),
}


def _default_artifact(spark_nlp: str, pyspark: str) -> str:
    """Spark NLP's own mapping (``sparknlp._maven``): Scala 2.13 for Spark 4, 2.12 before."""
    major = int(pyspark.split(".")[0])
    if major >= 4:
        name = "spark-nlp-spark400_2.13" if pyspark == "4.0.0" else "spark-nlp_2.13"
    else:
        name = "spark-nlp_2.12"
    return f"com.johnsnowlabs.nlp:{name}:{spark_nlp}"


def engine_profile() -> EngineProfile:
    """The profile matching the installed ``spark-nlp`` and ``pyspark`` packages.

    Raises:
        EngineError: either package is missing.
    """
    try:
        spark_nlp = importlib.metadata.version("spark-nlp")
        pyspark = importlib.metadata.version("pyspark")
    except importlib.metadata.PackageNotFoundError as exc:
        raise EngineError(f"the engine package {exc.name!r} is not installed; install alab-training with its "
                          "dependencies (pip install alab-training)") from exc
    known = _KNOWN_PROFILES.get(spark_nlp)
    if known is not None:
        return known
    return EngineProfile(spark_nlp=spark_nlp, artifact=_default_artifact(spark_nlp, pyspark))


def _dependency(coordinate: str, exclusions: tuple[str, ...] = ()) -> str:
    group, artifact, version = coordinate.split(":")
    excluded = "".join(
        f"<exclusion><groupId>{escape(g)}</groupId><artifactId>{escape(a)}</artifactId></exclusion>"
        for g, a in (pair.split(":") for pair in exclusions)
    )
    return (f"<dependency><groupId>{escape(group)}</groupId><artifactId>{escape(artifact)}</artifactId>"
            f"<version>{escape(version)}</version><exclusions>{excluded}</exclusions></dependency>")


def _pom(profile: EngineProfile) -> str:
    dependencies = _dependency(profile.artifact, profile.exclusions) + "".join(_dependency(c) for c in profile.extra)
    return ('<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
            "<groupId>local.alab_training</groupId><artifactId>spark-nlp-runtime</artifactId><version>1</version>"
            f"<dependencies>{dependencies}</dependencies></project>")


def _manifest_jars(folder: Path) -> list[Path] | None:
    """The jars of a complete cached set, or ``None`` if the set is missing or damaged."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        jars = [folder / entry["file"] for entry in manifest["jars"]]
        sizes_match = all(jar.stat().st_size == entry["size"] for jar, entry in zip(jars, manifest["jars"]))
        if sizes_match and any(jar.name.startswith("spark-nlp") for jar in jars):
            return jars
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _run(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=False)
    except subprocess.TimeoutExpired as exc:
        raise EngineError(f"{what}: no answer within an hour", command=" ".join(command)) from exc
    if done.returncode != 0:
        errors = [line for line in done.stdout.splitlines() + done.stderr.splitlines() if "ERROR" in line]
        raise EngineError(what, command=" ".join(command), detail="\n".join(errors[:5]) or done.stderr[-2000:])


def _tool(name: str, needed_for: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise EngineError(f"'{name}' is needed once {needed_for} and is not on PATH; install it (Maven and a JDK, "
                          "e.g. apt-get install maven openjdk-17-jdk-headless), or set ALAB_TRAINING_JARS to a "
                          "folder of ready jars")
    return path


def _patch_tensorflow_session(profile: EngineProfile, jars_dir: Path, work: Path, mvn: str) -> None:
    """Rebuild ``org.tensorflow.Session`` with ``initialize()`` (an alias of ``runInit()``) into the TF jar."""
    (tf_jar,) = jars_dir.glob("tensorflow-cpu*.jar")
    sources_dir = work / "tf-sources"
    _run([mvn, "--batch-mode", "--quiet", "dependency:copy", f"-Dartifact={profile.tensorflow_session_sources}",
          f"-DoutputDirectory={sources_dir}"], "Maven could not fetch the TensorFlow-Java sources")
    (sources_jar,) = sources_dir.glob("*.jar")
    with zipfile.ZipFile(sources_jar) as archive:
        source = archive.read("org/tensorflow/Session.java").decode()
    # JSL's TensorFlow jar relocates protobuf (under this very spelling).
    source = source.replace("com.google.protobuf.InvalidProtocolBufferException",
                            "com.google.protobuf.shaded.SahdedInvalidProtocolBufferException")
    source = re.sub(r"\bInvalidProtocolBufferException\b", "SahdedInvalidProtocolBufferException", source)
    if "public void initialize()" not in source:
        source, count = re.subn(r"(\n  public void runInit\(\)\s*\{)",
                                r"\n  public void initialize() { runInit(); }\n\1", source, count=1)
        if count != 1:
            raise EngineError("cannot patch TensorFlow's Session: its sources have no runInit()")
    java_file = work / "patch" / "org" / "tensorflow" / "Session.java"
    java_file.parent.mkdir(parents=True)
    java_file.write_text(source)
    classes = work / "patch-classes"
    _run([_tool("javac", "to build the TensorFlow compatibility patch"), "--release", "8", "-nowarn", "-cp",
          str(tf_jar), "-d", str(classes), str(java_file)], "javac could not build the TensorFlow Session patch")
    patched = jars_dir / tf_jar.name.replace(".jar", "-alab-session-patch.jar")
    replaced = {path.relative_to(classes).as_posix(): path for path in classes.rglob("*.class")}
    with zipfile.ZipFile(tf_jar) as original, zipfile.ZipFile(patched, "w", zipfile.ZIP_DEFLATED) as out:
        for entry in original.infolist():
            if entry.filename not in replaced:
                out.writestr(entry, original.read(entry))
        for name, path in sorted(replaced.items()):
            out.write(path, name)
    tf_jar.unlink()


def _resolve(profile: EngineProfile, target: Path) -> None:
    mvn = _tool("mvn", "to fetch the Spark NLP jars")
    work = Path(tempfile.mkdtemp(prefix=".resolve-", dir=target.parent))
    try:
        (work / "pom.xml").write_text(_pom(profile))
        jars_dir = work / "jars"
        _LOG.info("fetching the Spark NLP %s jars with Maven (once; cached in %s)", profile.spark_nlp, target)
        _run([mvn, "--batch-mode", "--quiet", "-f", str(work / "pom.xml"), "dependency:copy-dependencies",
              "-DincludeScope=runtime", f"-DoutputDirectory={jars_dir}"],
             f"Maven could not fetch the Spark NLP {profile.spark_nlp} jars ({profile.artifact})")
        if profile.tensorflow_session_sources:
            _patch_tensorflow_session(profile, jars_dir, work, mvn)
        entries = []
        for jar in sorted(jars_dir.glob("*.jar")):
            if _PROVIDED.match(jar.name):
                jar.unlink()
                continue
            entries.append({"file": jar.name, "size": jar.stat().st_size, "sha256": sha256_file(jar)})
        manifest = {"profile": attrs.asdict(profile), "jars": entries}
        (jars_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
        if target.exists():
            shutil.rmtree(target)
        jars_dir.rename(target)  # atomic: a crash leaves no half-filled cache behind
    finally:
        shutil.rmtree(work, ignore_errors=True)


def provision_jars(profile: EngineProfile | None = None) -> list[Path]:
    """The jar files for ``spark.jars``: from ``$ALAB_TRAINING_JARS`` if set, else the cache, fetching on first use.

    Raises:
        EngineError: Maven is missing or cannot resolve the jars (the Maven error lines are in ``detail``).
    """
    explicit = os.environ.get("ALAB_TRAINING_JARS")
    if explicit:
        jars = sorted(Path(explicit).glob("*.jar"))
        if not jars:
            raise EngineError(f"ALAB_TRAINING_JARS={explicit!r} holds no .jar files")
        return jars
    profile = profile or engine_profile()
    target = cache_root() / "jars" / profile.key
    jars = _manifest_jars(target)
    if jars is not None:
        return jars
    with exclusive(cache_root() / "jars" / f"{profile.key}.lock"):
        jars = _manifest_jars(target)  # another process may have finished while we waited
        if jars is None:
            _resolve(profile, target)
            jars = _manifest_jars(target)
    if jars is None:
        raise EngineError(f"the jar cache {target} is damaged; delete it and try again")
    return jars

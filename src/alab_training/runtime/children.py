"""The environment of a child Python process the library starts (a graph builder, an encoder import, a script).

The child imports this very copy of the library, even when the host put it on ``sys.path`` by hand, and starts
a Spark session of its own: a host's PySpark gateway variables would make it drive the host's JVM instead.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["child_environment"]

#: What PySpark leaves in the environment of a process whose JVM it started.
_HOST_GATEWAY = ("PYSPARK_GATEWAY_PORT", "PYSPARK_GATEWAY_SECRET")
#: The folder holding the ``alab_training`` package (this file is ``alab_training/runtime/children.py``).
_LIBRARY_ROOT = str(Path(__file__).resolve().parents[2])


def child_environment(**extra: str) -> dict[str, str]:
    """This process's environment, without the host's Spark gateway, the library first on ``PYTHONPATH``, plus
    ``extra``."""
    env = {key: value for key, value in os.environ.items() if key not in _HOST_GATEWAY}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_LIBRARY_ROOT, os.environ.get("PYTHONPATH")]))
    return {**env, **extra}

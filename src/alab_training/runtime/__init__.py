"""The engine at run time: the Spark NLP jars, the session, embeddings built into Spark NLP models, blocking fits.

Everything here talks to Spark; nothing here knows about projects, selections or trainers.
"""

from alab_training.runtime.cache import cache_root
from alab_training.runtime.jars import EngineProfile, engine_profile, provision_jars
from alab_training.runtime.session import default_driver_memory, start_session

__all__ = [
    "EngineProfile",
    "cache_root",
    "default_driver_memory",
    "engine_profile",
    "provision_jars",
    "start_session",
]

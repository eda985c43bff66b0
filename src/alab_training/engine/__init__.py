"""The Spark NLP engine: jar provisioning and session start-up."""

from alab_training.engine.jars import EngineProfile, cache_root, engine_profile, provision_jars
from alab_training.engine.session import default_driver_memory, start_session

__all__ = [
    "EngineProfile",
    "cache_root",
    "default_driver_memory",
    "engine_profile",
    "provision_jars",
    "start_session",
]

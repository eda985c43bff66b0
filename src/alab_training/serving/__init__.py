"""A Label Studio ML backend: serve trained models to Label Studio and train from its annotations.

The protocol's handlers are plain methods taking and returning dicts (:class:`Service`); the HTTP layer
(:mod:`alab_training.serving.http`, Starlette and uvicorn) is the optional ``serve`` extra:
``pip install 'alab-training[serve]'``, then ``alab-training serve --root DIR --label-studio URL --token TOKEN``.
"""

from alab_training.errors import LabelStudioAPIError, ModelsLoadingError, ProtocolError, ServingError
from alab_training.serving.ls_client import LabelStudioAPI, token_kind
from alab_training.serving.served import ModelServer, ServedModels
from alab_training.serving.service import Service, ServiceConfig
from alab_training.serving.state import ProjectState, StateStore
from alab_training.serving.work import Work, WorkQueue

__all__ = [
    "LabelStudioAPI",
    "LabelStudioAPIError",
    "ModelServer",
    "ModelsLoadingError",
    "ProjectState",
    "ProtocolError",
    "ServedModels",
    "Service",
    "ServiceConfig",
    "ServingError",
    "StateStore",
    "Work",
    "WorkQueue",
    "token_kind",
]

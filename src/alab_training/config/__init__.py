"""Labeling configs (Label Studio XML): parse safely, validate by the seed's rules, tell what can train.

The values (:class:`LabelingConfig` and its controls) are in :mod:`.controls`, reading in :mod:`.parser`, the
seed's rules in :mod:`.rules`, and the byte-preserving rewrite of ``model=`` attributes (what deploying writes)
in :mod:`.rewrite`. Nothing here knows about trained models or the engine.
"""

from alab_training.config.controls import (
    TRAINING_TYPES,
    ChoicesControl,
    LabelDef,
    LabelingConfig,
    LabelsControl,
)
from alab_training.config.parser import load_config, parse_xml
from alab_training.config.rules import bare_model_name, check_config, model_kind

__all__ = [
    "TRAINING_TYPES",
    "ChoicesControl",
    "LabelDef",
    "LabelingConfig",
    "LabelsControl",
    "bare_model_name",
    "check_config",
    "load_config",
    "model_kind",
    "parse_xml",
]

"""Labeling configs (Label Studio XML): parse safely, validate by the seed's rules, tell what can train."""

from alab_training.config.model import (
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

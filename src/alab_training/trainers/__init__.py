"""Trainers: the contract here; each built-in trainer is an internal plugin in its own module."""

from alab_training.trainers.base import Trainer, TrainingRequest

__all__ = ["Trainer", "TrainingRequest"]

"""Psychometrics of language models: all logic behind the study notebooks."""

__version__ = "0.1.0"

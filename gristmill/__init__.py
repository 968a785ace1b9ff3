"""Gristmill: versioned training data for LLM fine-tuning."""

__version__ = "0.1.0"

"""Prompt templates: shipped template files, strict rendering, and the prompt context built from requests."""

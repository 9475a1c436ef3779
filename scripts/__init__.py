"""Measurements and checks, each run as ``python -m scripts.NAME`` (see scripts/README.md)."""

"""Shared test setup: CPU only, deterministic, and quiet."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

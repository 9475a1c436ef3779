"""jaxnas: predictor-based neural architecture search in JAX."""

import pathlib

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
# Compatible ranges; requirements.txt pins the exact tested set.
REQUIREMENTS = [
    "jax>=0.6",
    "flax>=0.10",
    "optax>=0.2.4",
    "jraph>=0.0.6.dev0",
    "chex>=0.1.87",
    "absl-py>=2.1",
    "numpy>=1.26",
    "scipy>=1.11",
    "matplotlib>=3.8",
    "nas-bench-graph>=1.4",
    "orbax-checkpoint>=0.11",
]

setup(
    name="jaxnas",
    version="0.1.0",
    description="Predictor-based neural architecture search in JAX: SemiNAS, "
    "semi-supervised assessor, PARSEC, AceNAS, tabular benchmarks and baselines.",
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    packages=find_packages(include=["jaxnas", "jaxnas.*", "experiments", "experiments.*"]),
    python_requires=">=3.10",
    install_requires=REQUIREMENTS,
    extras_require={
        "test": ["pytest>=8", "pytest-xdist>=3.5", "scipy>=1.11"],
        "tfds": ["tensorflow-datasets>=4.9", "tensorflow-cpu>=2.15"],
        "torch": ["torch>=2.2"],
    },
)

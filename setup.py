"""jaxnas: predictor-based neural architecture search in JAX."""

import pathlib

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
REQUIREMENTS = [
    line.strip()
    for line in (HERE / "requirements.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
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

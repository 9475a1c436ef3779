"""jaxnas: predictor-based neural architecture search in JAX."""

from jaxnas import distributed as _distributed

__version__ = "0.1.0"

# Same random bits, fused into one kernel on CPU (see the function's docstring).
_distributed.use_unrolled_cpu_rng()

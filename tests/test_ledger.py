import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas.benchmarks import ledger as ledger_lib

TABLE = jnp.array([50.0, 60.0, jnp.nan, 80.0, 90.0])


def test_charges_new_answers_known_for_free_and_records_order():
    ledger = ledger_lib.init(5, budget=3)
    values, ledger = ledger_lib.query(ledger, TABLE, jnp.array([3, 3, 0]))
    np.testing.assert_allclose(values, [80.0, 80.0, 50.0])
    assert int(ledger.count) == 2
    np.testing.assert_array_equal(ledger.history, [3, 0, -1])
    values, ledger = ledger_lib.query(ledger, TABLE, jnp.array([0]))  # known: free
    assert int(ledger.count) == 2 and float(values[0]) == 50.0


def test_invalid_and_absent_are_nan_and_free():
    ledger = ledger_lib.init(5, budget=3)
    values, ledger = ledger_lib.query(ledger, TABLE, jnp.array([-1, 2]))
    assert np.all(np.isnan(values))
    assert int(ledger.count) == 0
    assert not bool(ledger.seen.any())


def test_budget_is_enforced():
    ledger = ledger_lib.init(5, budget=2)
    values, ledger = ledger_lib.query(ledger, TABLE, jnp.array([0, 1, 3, 0]))
    np.testing.assert_allclose(values[:2], [50.0, 60.0])
    assert np.isnan(values[2])  # refused: over budget, and not recorded as seen
    assert float(values[3]) == 50.0  # known architectures stay answerable
    assert int(ledger.count) == 2 and not bool(ledger.seen[3])
    assert bool(ledger_lib.exhausted(ledger))


def test_jit_and_vmap_over_seeds():
    ledgers = jax.vmap(lambda _: ledger_lib.init(5, 2))(jnp.arange(3))
    query = jax.jit(jax.vmap(ledger_lib.query, in_axes=(0, None, 0)))
    values, ledgers = query(ledgers, TABLE, jnp.array([[0, 1], [4, 4], [2, 3]]))
    np.testing.assert_array_equal(ledgers.count, [2, 1, 1])
    assert np.isnan(values[2, 0]) and float(values[2, 1]) == 80.0


def test_budget_must_be_positive():
    with pytest.raises(ValueError, match="budget"):
        ledger_lib.init(5, 0)

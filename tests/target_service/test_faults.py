"""Fault injection: the post's seed distribution, checked statistically with a fixed seed."""

from __future__ import annotations

from collections import Counter

import pytest

from target_service.faults import NO_FAULTS, SEED_FAULTS, FaultInjector

DRAWS = 30_000


def test_seed_faults_answer_200_400_401_500_in_the_posts_shares() -> None:
    injector = FaultInjector(SEED_FAULTS, seed=1234)
    statuses = Counter(injector.draw()[1] or 200 for _ in range(DRAWS))
    # The post draws from twelve 200s and one each of 400, 401 and 500.
    assert statuses.keys() == {200, 400, 401, 500}
    assert statuses[200] / DRAWS == pytest.approx(12 / 15, abs=0.01)
    for code in (400, 401, 500):
        assert statuses[code] / DRAWS == pytest.approx(1 / 15, abs=0.005)


def test_seed_latency_is_a_multiple_1_2_or_3_of_1_to_100_ms() -> None:
    injector = FaultInjector(SEED_FAULTS, seed=99)
    delays_ms = [round(injector.draw()[0] * 1000) for _ in range(DRAWS)]
    assert min(delays_ms) >= 1 and max(delays_ms) <= 300
    assert max(delays_ms) > 200  # the x3 multiplier happens
    above_100 = sum(delay > 100 for delay in delays_ms) / DRAWS
    # P(multiplier 2 or 3 and the product exceeds 100 ms) = 2/11 * 1/2 + 1/11 * 2/3.
    assert above_100 == pytest.approx(2 / 11 * 0.5 + 1 / 11 * (2 / 3), abs=0.01)
    assert sum(delays_ms) / DRAWS == pytest.approx((8 + 4 + 3) / 11 * 50.5, rel=0.03)


def test_no_faults_means_no_delay_and_no_error() -> None:
    injector = FaultInjector(NO_FAULTS, seed=7)
    assert {injector.draw() for _ in range(1000)} == {(0.0, None)}


def test_same_seed_draws_the_same_sequence() -> None:
    first, second = FaultInjector(SEED_FAULTS, seed=5), FaultInjector(SEED_FAULTS, seed=5)
    assert [first.draw() for _ in range(100)] == [second.draw() for _ in range(100)]


def test_error_rate_and_codes_apply_as_set() -> None:
    injector = FaultInjector(NO_FAULTS, seed=3)
    injector.update({"error_rate": 0.25, "status_codes": [502, 503]})
    statuses = Counter(injector.draw()[1] for _ in range(DRAWS))
    assert statuses.keys() == {None, 502, 503}
    assert (statuses[502] + statuses[503]) / DRAWS == pytest.approx(0.25, abs=0.01)

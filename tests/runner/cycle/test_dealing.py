"""The worker pool's policy without a process: what a worker is dealt, and a dead worker's journey."""

from __future__ import annotations

from runner.cycle.dealing import LOOKAHEAD, MAX_DEPTH, Dealer
from runner.cycle.pipes import RETRY


def test_a_long_line_is_dealt_deep_and_a_short_one_shallow_so_workers_finish_together() -> None:
    dealer = Dealer(journeys=10_000, workers=2)
    first, last = dealer.deal(holding=0)
    assert first == list(range(MAX_DEPTH)) and not last
    assert dealer.deal(holding=MAX_DEPTH) == ([], False)  # holds enough
    small = Dealer(journeys=5, workers=2)
    batch, last = small.deal(holding=0)
    assert batch == [0, 1] and len(batch) == LOOKAHEAD and not last  # never fewer than it needs to look ahead


def test_the_last_journeys_say_the_line_is_empty_and_every_journey_is_dealt_once() -> None:
    dealer = Dealer(journeys=7, workers=3)
    dealt: list[int] = []
    last = False
    while not last:
        batch, last = dealer.deal(holding=0)
        dealt += batch
    assert dealt == list(range(7)) and dealer.deal(holding=0) == ([], True)


def test_a_dead_workers_unstarted_journeys_go_back_and_its_journey_runs_again_first_while_it_has_retries() -> None:
    dealer = Dealer(journeys=10, workers=1)
    batch, _ = dealer.deal(holding=0)
    running, *unstarted = batch
    dealer.give_back(unstarted)
    assert dealer.lost(running, attempts_used=1, first_failure="died", retries=2) is True
    again, _ = dealer.deal(holding=0)
    assert again[0] == running and again[1:] == unstarted[: len(again) - 1]
    # As the worker reads it: the retried journey with the reruns it has left (2 allowed, 1 used).
    assert dealer.announce([running]) == [RETRY, 1, running]
    assert dealer.used(running) == (1, "died")


def test_a_journey_whose_workers_die_past_its_retries_is_over_with_every_attempt_counted() -> None:
    dealer = Dealer(journeys=1, workers=1)
    dealer.deal(holding=0)
    assert dealer.lost(0, attempts_used=1, first_failure="first death", retries=1) is True
    assert dealer.deal(holding=0)[0] == [0]  # run again
    assert dealer.lost(0, attempts_used=1, first_failure="second death", retries=1) is False
    assert dealer.used(0) == (2, "first death")
    assert dealer.deal(holding=0) == ([], True)


def test_after_a_stop_nothing_is_dealt_given_back_or_retried() -> None:
    dealer = Dealer(journeys=10, workers=2)
    batch, _ = dealer.deal(holding=0)
    dealer.stop()
    dealer.give_back(batch[1:])
    assert dealer.lost(batch[0], attempts_used=1, first_failure="x", retries=3) is False
    assert dealer.deal(holding=0) == ([], False) and not dealer.pending

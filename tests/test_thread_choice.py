"""The choice between the thread pool and the calling thread alone, run by run."""
import os

import numpy as np
import pytest

import graphc as gc
from graphc import models
from graphc.codegen.llvm.thread_choice import ThreadChoice


def simulate(choice, seconds_of, runs):
    """Drive the chooser with run times from `seconds_of(pooled, run)`; the modes used."""
    modes = []
    for run in range(runs):
        pooled = choice.use_pool()
        choice.record(pooled, seconds_of(pooled, run))
        modes.append(pooled)
    return modes


def test_a_clearly_faster_pool_is_kept_and_the_other_mode_rarely_tried():
    choice = ThreadChoice()
    modes = simulate(choice, lambda pooled, run: 1e-3 if pooled else 2e-3, 20_000)
    assert choice.switches == 0
    serial_runs = modes.count(False)
    assert 0 < serial_runs < 0.005 * len(modes)      # probes back off to every 2 s
    assert all(modes[-200:])


@pytest.mark.parametrize("step_s", [1e-3, 0.05, 0.25, 2.0])
def test_probing_a_mode_twice_as_slow_costs_about_one_percent_whatever_a_step_costs(step_s):
    choice = ThreadChoice()
    runs = int(600 / step_s)                        # ten minutes of training
    modes = simulate(choice, lambda pooled, run: step_s if pooled else 2 * step_s, runs)
    spent_alone = modes.count(False) * 2 * step_s
    assert choice.switches == 0
    assert spent_alone < 0.015 * runs * step_s + 2 * step_s    # + the first probe


def test_a_phase_where_one_thread_is_faster_is_followed_both_ways():
    choice = ThreadChoice()

    def phase(pooled, run):              # the second core goes away for runs 5000-9999
        slow_pool = 5000 <= run < 10_000
        return (3.3e-4 if slow_pool else 2.0e-4) if pooled else 3.1e-4

    modes = simulate(choice, phase, 15_000)
    assert choice.switches == 2
    # each change of phase is noticed within the longest probe period (2 s) of run time
    first_serial = modes.index(False, 5000 + 1)
    assert not any(modes[first_serial: first_serial + 10])
    switched_at = next(i for i in range(5000, 10_000) if not any(modes[i: i + 50]))
    assert (switched_at - 5000) * 3.3e-4 < ThreadChoice.MAX_PERIOD_S + 0.01
    back_at = next(i for i in range(10_000, 15_000) if all(modes[i: i + 50]))
    assert (back_at - 10_000) * 3.1e-4 < ThreadChoice.MAX_PERIOD_S + 0.01


def test_noise_within_the_margin_does_not_flip_the_choice():
    rng = np.random.default_rng(0)
    choice = ThreadChoice()
    simulate(choice, lambda pooled, run: (1.0 if pooled else 1.02) * 1e-3 *
             (1 + 0.01 * rng.standard_normal()), 20_000)
    assert choice.switches == 0


def test_runs_alternating_between_pool_and_caller_give_the_same_bits(monkeypatch):
    """Whichever mode each run takes, the train step's variables come out identical."""
    if (os.cpu_count() or 1) < 2 or os.environ.get("GRAPHC_NUM_THREADS") == "1":
        pytest.skip("one core: no thread pool, so there is no choice to make")

    def train(use_pool):
        monkeypatch.setattr(ThreadChoice, "use_pool", use_pool)
        step = models.mlp()
        sess = gc.Session(step.graph, backend="llvm")
        for i in range(6):
            sess.run(step.train_op, step.batch(32, seed=i))
        (exe,) = [exe for _, exe in sess.backend._compiled.values()]
        assert exe.thread_choice is not None
        return [sess.variable_value(v) for v in gc.global_variables(step.graph)]

    flips = iter(range(10**6))
    alternating = train(lambda self: next(flips) % 2 == 0)
    always_pooled = train(lambda self: True)
    for a, b in zip(alternating, always_pooled):
        np.testing.assert_array_equal(a, b)


def test_a_new_batch_size_cancels_a_probe_and_its_comparison():
    """Runs at another batch size take another time whatever the mode: after `forget`
    (the executable calls it when N changes) the old times decide nothing."""
    choice = ThreadChoice()
    while choice.use_pool():                  # pooled runs until the first probe is due
        choice.record(True, 1e-3)
    choice.forget()                           # ... and then the batch shrinks
    for _ in range(ThreadChoice.PROBES):
        pooled = choice.use_pool()
        assert pooled
        choice.record(pooled, 1e-5)
    assert choice.switches == 0

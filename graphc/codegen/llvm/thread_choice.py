"""Run a compiled program on the thread pool or on the calling thread alone, whichever
has been faster lately.

On a shared machine (a cloud VM, this 2-vCPU one) the second core comes and goes: for
seconds at a time the host runs another guest on it, and a two-thread run then waits for
a worker that is not running — slower than one thread (seed-2layer measured 0.33 ms on
two threads against 0.31 ms on one in such a phase, 0.196 against 0.308 outside it).
The results are bit-identical either way (every kernel computes each element in the same
order whoever runs it), so the choice is free to change from run to run.

The chooser keeps the last few run times of each mode and runs the faster. Every so
often it runs the other mode to refresh that estimate (three runs, or one when a run
takes longer than `LONG_RUN_S`); the wait between such probes doubles while they confirm
the choice (from `MIN_PERIOD_S` to `MAX_PERIOD_S` of run time), and is never shorter
than what keeps the probes' cost within `BUDGET` of the run time: a change of phase is
noticed within about a second for steps of a millisecond, and a mode twice as slow
costs about 1 % whatever a step costs (a 250 ms step whose probes came every 2 s spent
a third of its time on one thread: 497 ms runs in every fourth place).
"""
from __future__ import annotations

import statistics
from collections import deque


class ThreadChoice:
    WINDOW = 5            # run times kept per mode
    PROBES = 3            # runs of the other mode per probe
    MARGIN = 0.05         # switch only for a 5% faster estimate
    MIN_PERIOD_S = 0.05
    MAX_PERIOD_S = 2.0
    LONG_RUN_S = 0.02     # one probe run is enough at this length
    BUDGET = 0.01         # probes cost at most this share of run time

    def __init__(self):
        self.pooled = True                       # the mode in use
        self._times = {True: deque(maxlen=self.WINDOW), False: deque(maxlen=self.WINDOW)}
        self._probing = 0                        # runs of the other mode still to do
        self._period = self.MIN_PERIOD_S
        self._until_probe = self.MIN_PERIOD_S    # run time left before the next probe
        self.switches = 0

    def forget(self) -> None:
        """Drop the run times (the work per run changed: a new batch size), keep the
        mode, and probe again soon."""
        for times in self._times.values():
            times.clear()
        self._probing = 0
        self._period = self._until_probe = self.MIN_PERIOD_S

    def use_pool(self) -> bool:
        """The mode of the next run."""
        return self.pooled if not self._probing else not self.pooled

    def record(self, pooled: bool, seconds: float) -> None:
        """The native run time of a run made in mode `pooled`."""
        self._times[pooled].append(seconds)
        if pooled != self.pooled:                # a probe
            self._probing -= 1
            if not self._probing:
                self._decide()
            return
        self._until_probe -= seconds
        if self._until_probe <= 0:
            self._times[not self.pooled].clear()  # probe with fresh times only
            self._probing = self.PROBES if seconds < self.LONG_RUN_S else 1

    def _decide(self) -> None:
        if not self._times[self.pooled]:           # forgotten meanwhile: nothing to compare
            self._until_probe = self._period
            return
        other = statistics.median(self._times[not self.pooled])
        current = statistics.median(self._times[self.pooled])
        if other < current * (1 - self.MARGIN):
            self.pooled = not self.pooled
            self.switches += 1
            self._period = self.MIN_PERIOD_S
            self._until_probe = self._period
            return
        self._period = min(2 * self._period, self.MAX_PERIOD_S)
        probe_cost = other * len(self._times[not self.pooled])
        self._until_probe = max(self._period, probe_cost / self.BUDGET)

"""A warming worker keeps telling gunicorn's master it is alive, and stops when warm-up ends."""

from __future__ import annotations

import threading

import pytest

from service.server import heartbeat


class Worker:
    """What gunicorn's worker offers the heartbeat: ``notify``."""

    def __init__(self) -> None:
        self.beats = 0
        self.three = threading.Event()

    def notify(self) -> None:
        self.beats += 1
        if self.beats >= 3:
            self.three.set()


def test_a_long_warm_up_keeps_notifying_the_master() -> None:
    worker = Worker()
    with heartbeat(worker, every=0.01):
        assert worker.three.wait(timeout=30)  # a slow first export, standing in
    after = worker.beats
    assert not any(thread.name == "warm-up-heartbeat" for thread in threading.enumerate())
    assert worker.beats == after  # nothing beats once warm-up is over


def test_a_failed_warm_up_stops_the_heartbeat_too() -> None:
    worker = Worker()
    with pytest.raises(RuntimeError, match="export failed"), heartbeat(worker, every=0.01):
        worker.three.wait(timeout=30)
        raise RuntimeError("export failed")
    assert not any(thread.name == "warm-up-heartbeat" for thread in threading.enumerate())

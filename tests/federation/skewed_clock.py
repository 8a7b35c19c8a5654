"""Run `manage.py ARGS` with the wall clock `QMC_TEST_CLOCK_SKEW` seconds off, for one node of
the three-node tests (libfaketime is not on every machine): `time.time()` is shifted, which
is the clock a witness stamps its cosignatures with (federation/witness.py). Test-only; the
portal itself has no such switch.

    QMC_TEST_CLOCK_SKEW=3600 python tests/federation/skewed_clock.py manage.py runserver ...
"""

import os
import runpy
import sys
import time


class _Skewed:
    """A clock `offset` ahead of `real`; an object, not a function, so that a class that keeps
    `time.time` as an attribute (DRF's throttles) does not bind it as a method."""

    def __init__(self, real, offset):
        self.real, self.offset = real, offset

    def __call__(self):
        return self.real() + self.offset


_skew = float(os.environ["QMC_TEST_CLOCK_SKEW"])
time.time = _Skewed(time.time, _skew)
time.time_ns = _Skewed(time.time_ns, int(_skew * 1e9))

sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
runpy.run_path(sys.argv[0], run_name="__main__")

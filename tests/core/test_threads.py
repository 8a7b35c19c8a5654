import os
import threading

import pytest

from core.threads import lower_priority


@pytest.mark.smoke
def test_lower_priority_lowers_the_calling_thread_only():
    base = os.getpriority(os.PRIO_PROCESS, 0)
    seen = {}

    def background():
        seen["lowered"] = lower_priority(5)
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, 0)

    t = threading.Thread(target=background)
    t.start()
    t.join()
    assert seen["lowered"]
    assert seen["nice"] == min(19, base + 5)
    assert os.getpriority(os.PRIO_PROCESS, 0) == base

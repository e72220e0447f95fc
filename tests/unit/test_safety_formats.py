"""The formats the safety backup tries (module_utils/safety_dump.safety_formats, the safety_dump_formats filter).

After a failed restore in place, tests/integration/test_restore.py restores a directory safety backup and
tests/integration/test_faults.py (pg_restore killed mid-way, in place) the custom one `auto` gives; which one
`auto` gives is proven here."""
import pytest

from ansible_collections.yieldvault.db_restore.plugins.filter.safety_formats import FilterModule
from ansible_collections.yieldvault.db_restore.plugins.module_utils.safety_dump import safety_formats

DIRECTORY_FIRST = ["directory", "custom", "plain"]
CUSTOM_FIRST = ["custom", "plain"]


@pytest.mark.parametrize("setting,jobs,method,expected", [
    # auto: in parallel with the swap, the dump runs in parallel too
    ("auto", 4, "swap", DIRECTORY_FIRST),
    ("auto", "2", "swap", DIRECTORY_FIRST),
    # auto in place: a rollback after the drop would need room to unpack a directory dump
    ("auto", 4, "in_place", CUSTOM_FIRST),
    # auto with one job: nothing to gain from the directory format
    ("auto", 1, "swap", CUSTOM_FIRST),
    ("auto", "not a number", "swap", CUSTOM_FIRST),
    # asked for by name: as asked, whatever the jobs and the method
    ("directory", 1, "in_place", DIRECTORY_FIRST),
    ("custom", 8, "swap", CUSTOM_FIRST),
])
def test_the_formats_tried_in_order(setting, jobs, method, expected):
    assert safety_formats(setting, jobs, method) == expected


def test_the_filter_gives_the_same_and_defaults_to_the_swap():
    safety_dump_formats = FilterModule().filters()["safety_dump_formats"]
    assert safety_dump_formats("auto", 3, "in_place") == CUSTOM_FIRST
    assert safety_dump_formats("auto", 3, None) == DIRECTORY_FIRST
    assert safety_dump_formats("auto") == CUSTOM_FIRST

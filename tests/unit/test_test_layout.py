# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The test tree itself: the compat stage runs tests/unit, tests/contract and tests/integration in one
pytest session (rootdir-relative module names, no __init__.py), where two test files with the same
basename fail collection with 'import file mismatch'."""

from __future__ import annotations

import collections
import os

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_no_two_test_files_share_a_basename():
    where = collections.defaultdict(list)
    for folder in ("unit", "contract", "integration"):
        for name in os.listdir(os.path.join(TESTS, folder)):
            if name.startswith("test_") and name.endswith(".py"):
                where[name].append(folder)
    clashes = {name: folders for name, folders in where.items() if len(folders) > 1}
    assert not clashes, "test files with the same name in several folders: %s" % clashes

# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet_report action plugin as a GowinAction that needs no channel, and its check of dest before anything is
written. The playbook runs (bad options, a dest that is a file or not writable) are in
tests/integration/test_validate_report.py."""

from __future__ import annotations

import importlib
import os

from ansible_collections.gowin.server.plugins.action import fleet_report
from ansible_collections.gowin.server.plugins.plugin_utils._action import GowinAction

ACTION_DIR = os.path.dirname(fleet_report.__file__)
FILES = ("report.json", "report.junit.xml", "report.html")


def test_every_module_is_a_gowin_action_and_only_fleet_report_skips_the_channel_and_the_connection():
    found = {}
    for name in sorted(f[:-3] for f in os.listdir(ACTION_DIR) if f.endswith(".py") and not f.startswith("_")):
        cls = importlib.import_module("ansible_collections.gowin.server.plugins.action." + name).ActionModule
        assert issubclass(cls, GowinAction) and cls.MODULE == name, name
        # Ansible sets up no connection for an action with _requires_connection False: only for one without a channel
        assert cls._requires_connection is cls.USES_CHANNEL, name  # pylint: disable=protected-access
        found[name] = cls.USES_CHANNEL
    assert [n for n, uses in found.items() if not uses] == ["fleet_report"]


def paths(dest) -> list[str]:
    return [os.path.join(str(dest), f) for f in FILES]


def test_dest_missing_or_an_empty_folder_is_fine(tmp_path):
    assert fleet_report.dest_problem(str(tmp_path / "a" / "b"), paths(tmp_path / "a" / "b")) is None
    assert fleet_report.dest_problem(str(tmp_path), paths(tmp_path)) is None


def test_dest_that_is_a_file_or_inside_one_is_named(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    assert fleet_report.dest_problem(str(f), paths(f)) == "%s exists and is not a folder" % f
    assert fleet_report.dest_problem(str(f / "sub"), paths(f / "sub")) == "%s cannot be created: %s is not a folder" % (f / "sub", f)
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    assert fleet_report.dest_problem(str(link), paths(link)) == "%s exists and is not a folder" % link


def test_a_folder_where_a_report_file_goes_is_named(tmp_path):
    (tmp_path / "report.junit.xml").mkdir()
    assert fleet_report.dest_problem(str(tmp_path), paths(tmp_path)) == \
        "%s holds a folder named report.junit.xml, where the report file goes" % tmp_path


def test_dest_not_writable_is_named(tmp_path, monkeypatch):
    # os.access stands in for a folder of mode 0o500 (root, which these tests may run as, writes to it all the same)
    monkeypatch.setattr(fleet_report.os, "access", lambda path, mode: str(path) != str(tmp_path))
    assert fleet_report.dest_problem(str(tmp_path), paths(tmp_path)) == "%s is not writable by this user" % tmp_path
    assert fleet_report.dest_problem(str(tmp_path / "new"), paths(tmp_path / "new")) == \
        "%s cannot be created: %s is not writable by this user" % (tmp_path / "new", tmp_path)

"""PATH handling and the session script of go_env, as pure functions."""

from __future__ import annotations

import pytest

from ansible_collections.gowin.server.plugins.plugin_utils import _env_plan as ep
from ansible_collections.gowin.server.plugins.plugin_utils import _goenv as ge

ENV = {"GOPATH": "C:\\go-work", "SystemRoot": "C:\\Windows"}


@pytest.mark.parametrize("a,b", [
    ("C:\\Go\\bin", "c:\\go\\BIN"),
    ("C:\\Go\\bin\\", "C:\\Go\\bin"),
    ("\"C:\\Program Files\\Go\\bin\"", "C:\\Program Files\\Go\\bin"),
    (" C:\\Go\\bin ", "C:\\Go\\bin"),
    ("%GOPATH%\\bin", "C:\\go-work\\bin"),
    ("%systemroot%\\system32", "C:\\Windows\\System32"),
    ("C:/Go/bin", "C:\\Go\\bin"),
])
def test_entries_that_are_the_same(a, b):
    assert ep.path_key(a, ENV) == ep.path_key(b, ENV)


@pytest.mark.parametrize("a,b", [
    ("C:\\Go\\bin", "C:\\Go\\bin2"),
    ("%UNKNOWN%\\bin", "C:\\go-work\\bin"),
    ("C:\\", "C:"),
])
def test_entries_that_differ(a, b):
    assert ep.path_key(a, ENV) != ep.path_key(b, ENV)


def test_ensure_appends_only_missing_entries_and_keeps_order():
    current = ["%SystemRoot%\\system32", "C:\\Tools", "C:\\Tools", "%GOPATH%\\bin", ""]
    new, added = ep.ensure_entries(current, ["C:\\go-work\\bin", "C:\\Go\\bin", "c:\\go\\bin\\"], ENV)
    assert added == ["C:\\Go\\bin"]
    assert new == ["%SystemRoot%\\system32", "C:\\Tools", "C:\\Tools", "%GOPATH%\\bin", "C:\\Go\\bin"]
    same, none = ep.ensure_entries(current, ["C:\\tools\\"], ENV)
    assert none == [] and same == current


def test_remove_takes_every_match_and_nothing_else():
    current = ["C:\\A", "C:\\Go\\bin", "\"c:\\go\\bin\\\"", "C:\\B", ""]
    kept, removed = ep.remove_entries(current, ["C:\\Go\\bin"], ENV)
    assert kept == ["C:\\A", "C:\\B", ""] and len(removed) == 2


@pytest.mark.parametrize("entry,ok", [
    ("C:\\Go\\bin", True), ("%GOPATH%\\bin", True), ("bin", False), ("C:\\a;C:\\b", False),
    ("\"C:\\x\"", False), ("", False), ("C:\\NUL\\bin", False),
])
def test_path_entry_rules(entry, ok):
    if ok:
        assert ep.check_path_entry(entry)
    else:
        with pytest.raises(ge.GoEnvError) as err:
            ep.check_path_entry(entry)
        assert "path" in str(err.value)


def test_session_script_quotes_values_as_data():
    text = ep.session_script_text({"GOPATH": "C:\\it's", "GOFLAGS": "-ldflags=$(calc)`"}, ["C:\\Go\\bin"])
    assert "$env:GOPATH = 'C:\\it''s'" in text
    assert "$env:GOFLAGS = '-ldflags=$(calc)`'" in text  # single quotes: nothing expands or runs
    assert text.endswith("\r\n") and "'C:\\Go\\bin'" in text


@pytest.mark.parametrize("quote", ["'", "\u2018", "\u2019", "\u201a", "\u201b"])
def test_session_script_doubles_every_kind_of_single_quote(quote):
    value = "C:\\a" + quote + "; Remove-Item C:\\ -Recurse; " + quote
    line = [ln for ln in ep.session_script_text({"GOPATH": value}, []).splitlines() if ln.startswith("$env:GOPATH")][0]
    body = line[len("$env:GOPATH = '"):-1]
    assert body.replace(quote + quote, "").count(quote) == 0  # no lone quote can end the literal


def test_plan_keeps_the_stored_name_and_the_path_type():
    obs = ep.EnvObserved(
        facts={"user_sid": "S-1-5-21-1"}, machine={"Path": {"type": "REG_EXPAND_SZ", "data": "%SystemRoot%"},
                                                   "GoPath": {"type": "REG_SZ", "data": "C:\\old"}},
        user={}, records={}, active=None, current_exists=False, goroot_go_env=None)
    params = {"scope": "machine", "state": "present", "session_script": None}
    out = ep.plan(params, obs, {"GOPATH": "C:\\new"}, [], ["C:\\Go\\bin"])
    sets = [o["args"] for o in out.ops if o["op"] == "registry.set"]
    assert sets[0] == {"path": ep.MACHINE_ENV, "name": "GoPath", "type": "REG_SZ", "data": "C:\\new",
                       "expect": {"type": "REG_SZ", "data": "C:\\old"}}
    assert sets[1]["type"] == "REG_EXPAND_SZ" and sets[1]["data"] == "%SystemRoot%;C:\\Go\\bin"
    # every write holds only if the value is still what the probe read (two runs cannot lose each other's PATH)
    assert sets[1]["expect"] == {"type": "REG_EXPAND_SZ", "data": "%SystemRoot%"}
    assert out.ops[-1]["op"] == "env.notify"
    assert out.variables["GOPATH"] == {"before": "C:\\old", "after": "C:\\new"}


def test_plan_refuses_a_path_longer_than_windows_allows():
    obs = ep.EnvObserved(facts={}, machine={"Path": {"type": "REG_EXPAND_SZ", "data": "C:\\x" * 8190}},
                         user={}, records={}, active=None, current_exists=False, goroot_go_env=None)
    with pytest.raises(ge.GoEnvError) as err:
        ep.plan({"scope": "machine", "state": "present"}, obs, {}, [], ["C:\\Go\\bin"])
    assert "32767" in str(err.value)


def test_every_write_of_the_plan_is_conditional_on_what_the_probe_read():
    obs = ep.EnvObserved(
        facts={"user_sid": "S-1-5-21-1"}, machine={"Path": {"type": "REG_EXPAND_SZ", "data": "C:\\a"},
                                                   "GOFLAGS": {"type": "REG_SZ", "data": "-mod=mod"},
                                                   "GOODD": {"type": "REG_UNKNOWN", "data": "0a0b"}},
        user={}, records={}, active=None, current_exists=False, goroot_go_env=None)
    params = {"scope": "machine", "state": "absent", "session_script": None}
    out = ep.plan(params, obs, {}, ["GOFLAGS", "GOODD", "GOPROXY"], ["C:\\a"])
    removes = {o["args"]["name"]: o["args"] for o in out.ops if o["op"] == "registry.remove"}
    assert removes["GOFLAGS"]["expect"] == {"type": "REG_SZ", "data": "-mod=mod"}
    assert "expect" not in removes["GOODD"]  # a type the protocol cannot name is removed unconditionally
    assert "GOPROXY" not in removes  # not there: nothing to do
    path_set = [o["args"] for o in out.ops if o["op"] == "registry.set"][0]
    assert path_set["data"] == "" and path_set["expect"] == {"type": "REG_EXPAND_SZ", "data": "C:\\a"}
    new = ep.plan({"scope": "user", "state": "present", "session_script": None}, obs, {"GOPATH": "C:\\gp"}, [], [])
    assert [o["args"]["expect"] for o in new.ops if o["op"] == "registry.set"] == [{"exists": False}]

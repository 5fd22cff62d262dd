"""Baseline documents and the dsc_baseline planner (plugins/plugin_utils/_baseline.py, _jsonschema.py):
the shipped schema and the collection's validator held to the jsonschema package, errors that name the
setting and field, selection, waivers, Test per kind, Set ops, and each lockout guard."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re

import jsonschema
import pytest
import yaml

from ansible_collections.gowin.server.plugins.plugin_utils import _baseline as bl
from ansible_collections.gowin.server.plugins.plugin_utils import _jsonschema as js

REG = {"key": "HKLM\\SYSTEM\\CurrentControlSet\\Control\\FileSystem", "name": "LongPathsEnabled", "type": "REG_DWORD", "value": 1}


def setting(**over):
    s = {"id": "fs.long_paths", "title": "Long paths", "kind": "registry", "refs": ["MSFT Maximum Path Length Limitation"],
         "severity": "medium", "rationale": "Go trees are deep.", "tags": ["go", "filesystem"], "expect": dict(REG)}
    s.update(over)
    return s


def doc(*settings):
    return {"schema": "gowin.server/baseline/1", "name": "unit", "title": "Unit", "settings": list(settings) or [setting()]}


# ------------------------------------------------------------------------------ the schema and the validator

def test_the_shipped_schema_is_a_valid_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(bl.schema())


BAD_DOCS = [
    ("no settings", lambda d: d.pop("settings"), "needs the field 'settings'"),
    ("wrong schema", lambda d: d.update(schema="gowin.server/baseline/2"), "must be 'gowin.server/baseline/1'"),
    ("unknown top field", lambda d: d.update(owner="x"), "unknown field 'owner'"),
    ("bad id", lambda d: d["settings"][0].update(id="Fs Long"), "settings[0] (id Fs Long) id"),
    ("no refs", lambda d: d["settings"][0].update(refs=[]), "refs: must have at least 1 item"),
    ("bad ref", lambda d: d["settings"][0].update(refs=["CIS 18.1"]), "refs[0]"),
    ("bad severity", lambda d: d["settings"][0].update(severity="urgent"), "severity: must be one of low, medium, high, critical"),
    ("bad kind", lambda d: d["settings"][0].update(kind="wmi"), "kind: must be one of registry"),
    ("bad release", lambda d: d["settings"][0].update(applies_to=["ws2012"]), "applies_to[0]"),
    ("dword as text", lambda d: d["settings"][0]["expect"].update(value="1"), "expect.value: must be an integer, got text"),
    ("dword too big", lambda d: d["settings"][0]["expect"].update(value=2 ** 32), "expect.value: must be at most 4294967295"),
    ("not HKLM", lambda d: d["settings"][0]["expect"].update(key="HKCU\\Software\\X"), "expect.key: 'HKCU\\\\Software\\\\X' is not a key under HKLM"),
    ("empty key name", lambda d: d["settings"][0]["expect"].update(key="HKLM\\SYSTEM\\\\X"), "no empty key name"),
    ("no value", lambda d: d["settings"][0]["expect"].pop("value"), "needs type and value"),
    ("absent with type", lambda d: d["settings"][0]["expect"].update(state="absent"), "needs type and value"),
    ("min on a string", lambda d: d["settings"][0]["expect"].update(type="REG_SZ", value="x", min=1), "min and max apply only"),
    ("unknown expect field", lambda d: d["settings"][0]["expect"].update(data=1), "unknown field 'data'"),
    ("tls both forms", lambda d: d["settings"][0].update(kind="tls", expect={"protocol": "TLS 1.0", "side": "server",
                                                                             "cipher": "NULL", "enabled": False}),
     "needs protocol and side"),
    ("tls bad protocol", lambda d: d["settings"][0].update(kind="tls", expect={"protocol": "TLS 1.4", "side": "server", "enabled": False}),
     "expect.protocol"),
    ("audit no side", lambda d: d["settings"][0].update(kind="audit_policy", expect={
        "subcategory": "{0CCE922B-69AE-11D9-BED3-505054503030}", "name": "Process Creation"}), "needs success, failure or both"),
    ("audit lower-case guid", lambda d: d["settings"][0].update(kind="audit_policy", expect={
        "subcategory": "{0cce922b-69ae-11d9-bed3-505054503030}", "name": "Process Creation", "success": True}), "expect.subcategory"),
    ("secpol mixed", lambda d: d["settings"][0].update(kind="security_policy", expect={
        "section": "system_access", "key": "LockoutBadCount", "value": 5, "holders": ["S-1-5-32-546"]}), "section system_access needs key"),
    ("secpol bad sid", lambda d: d["settings"][0].update(kind="security_policy", expect={
        "section": "privilege_rights", "right": "SeDenyNetworkLogonRight", "holders": ["Guests"]}), "expect.holders[0]"),
    ("service nothing", lambda d: d["settings"][0].update(kind="service", expect={"name": "Spooler"}), "needs start_mode, state or both"),
    ("firewall nothing", lambda d: d["settings"][0].update(kind="firewall_profile", expect={"profile": "public"}), "needs at least one of"),
    ("feature bad state", lambda d: d["settings"][0].update(kind="optional_feature", expect={"name": "SMB1Protocol", "state": "off"}),
     "expect.state"),
]


@pytest.mark.parametrize("name, mutate, words", BAD_DOCS, ids=[b[0] for b in BAD_DOCS])
def test_bad_documents_are_refused_naming_setting_and_field_and_jsonschema_agrees(name, mutate, words):
    d = doc()
    mutate(d)
    assert list(jsonschema.Draft202012Validator(bl.schema()).iter_errors(d)), "jsonschema accepts it: %s" % name
    with pytest.raises(bl.BaselineError) as err:
        bl.check_document(d, "baseline x.yml:")
    assert words in str(err.value)
    assert str(err.value).startswith("baseline x.yml:")


GOOD_SETTINGS = [
    setting(),
    setting(expect={"key": REG["key"], "name": "X", "state": "absent"}),
    setting(expect=dict(REG, min=0, max=3, value=2)),
    setting(expect={"key": REG["key"], "name": "M", "type": "REG_MULTI_SZ", "value": ["a", "b"]}),
    setting(kind="tls", expect={"protocol": "TLS 1.2", "side": "client", "enabled": True}),
    setting(kind="tls", expect={"cipher": "RC4 128/128", "enabled": False}),
    setting(kind="audit_policy", expect={"subcategory": "{0CCE922B-69AE-11D9-BED3-505054503030}", "name": "Process Creation", "success": True}),
    setting(kind="security_policy", expect={"section": "system_access", "key": "LockoutBadCount", "value": 5, "min": 1, "max": 5}),
    setting(kind="security_policy", expect={"section": "privilege_rights", "right": "SeDenyNetworkLogonRight",
                                            "holders": ["S-1-5-32-546"], "match": "includes"}),
    setting(kind="service", expect={"name": "Spooler", "start_mode": "disabled"}),
    setting(kind="optional_feature", expect={"name": "SMB1Protocol", "state": "disabled"}),
    setting(kind="firewall_profile", expect={"profile": "public", "enabled": True, "log_max_kb": 16384}),
    setting(applies_to=["ws2022", "core"], opt_in=True, reboot_required=True,
            refs=["CIS WS2022 18.9.47.5.1 (L1)", "STIG V-254247", "MSFT Security baseline"]),
]


@pytest.mark.parametrize("s", GOOD_SETTINGS, ids=[str(i) for i in range(len(GOOD_SETTINGS))])
def test_good_settings_pass_both_validators(s):
    d = doc(s)
    jsonschema.Draft202012Validator(bl.schema()).validate(d)
    bl.check_document(d, "x")


def test_the_validator_refuses_a_schema_keyword_it_does_not_implement():
    with pytest.raises(js.SchemaError, match="patternProperties"):
        js.Validator({"type": "object", "patternProperties": {"^x": {}}})


def test_true_is_not_one_and_one_is_not_true():
    v = js.Validator({"const": 1})
    assert v.errors(True) and not v.errors(1)
    assert js.Validator({"type": "integer"}).errors(True)


@pytest.mark.parametrize("mutate, words", [
    (lambda d: d["settings"].append(setting()), "settings[1] (id fs.long_paths) id: repeats the id of settings[0]"),
    (lambda d: d["settings"][0]["expect"].update(min=5, max=1, value=3), "min 5 is above max 1"),
    (lambda d: d["settings"][0]["expect"].update(min=2, value=1), "1 is outside min..max"),
    (lambda d: d["settings"][0].update(kind="service", expect={"name": "X", "start_mode": "disabled", "state": "running"}),
     "a disabled service cannot be running"),
])
def test_semantic_errors(mutate, words):
    d = doc()
    mutate(d)
    with pytest.raises(bl.BaselineError, match=re.escape(words)):
        bl.check_document(d, "")


def test_load_a_document_from_the_controller_and_merge_inline_settings(tmp_path):
    path = tmp_path / "b.yml"
    path.write_text(yaml.safe_dump(doc(setting(), setting(id="other", tags=["x"]))))
    extra = setting(id="fs.long_paths", title="Replaced")
    merged = bl.load(str(path), [extra, setting(id="added")])
    assert [s["id"] for s in merged["settings"]] == ["fs.long_paths", "other", "added"]
    assert merged["settings"][0]["title"] == "Replaced"
    assert bl.load("b.yml", [], source_dir=str(tmp_path))["name"] == "unit"


@pytest.mark.parametrize("text, words", [
    ("schema: [unclosed", "is not valid YAML at line"),
    ("!!python/object/apply:os.system ['echo x']", "could not determine a constructor for the tag"),
    ("- just\n- a list\n", "bad.yml: the document: must be a mapping, got a list"),
    (b"\xff\xfe", "is not UTF-8 text"),
])
def test_load_refuses_what_is_not_a_document(tmp_path, text, words):
    path = tmp_path / "bad.yml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(bl.BaselineError, match=words):
        bl.load(str(path), [])


def test_load_names_the_option_for_a_missing_file_or_unknown_name(tmp_path):
    with pytest.raises(bl.BaselineError, match="none.yml is not a file on the controller"):
        bl.load(str(tmp_path / "none.yml"), [])
    with pytest.raises(bl.BaselineError, match="is not a file on the controller"):
        bl.load(str(tmp_path), [])
    with pytest.raises(bl.BaselineError, match="baseline: must not be empty"):
        bl.load("  ", [])
    with pytest.raises(bl.BaselineError, match="baseline: 'cis_l9' is not a shipped baseline"):
        bl.load("cis_l9", [])


def test_inline_settings_are_validated_and_named_as_the_option(tmp_path):
    path = tmp_path / "b.yml"
    path.write_text(yaml.safe_dump(doc()))
    with pytest.raises(bl.BaselineError, match=r"^settings: settings\[0\] \(id x\) severity"):
        bl.load(str(path), [setting(id="x", severity="huge")])


# ------------------------------------------------------------------------------ selection and applicability

def test_selection_by_tag_and_id_with_opt_in_and_exclude():
    d = doc(setting(id="a", tags=["tls"]), setting(id="b", tags=["smb"]), setting(id="c", tags=["ipv6"], opt_in=True))
    assert [s["id"] for s in bl.selected(d, [], [])] == ["a", "b"]
    assert [s["id"] for s in bl.selected(d, ["ipv6"], [])] == ["c"]
    assert [s["id"] for s in bl.selected(d, ["tls", "C"], [])] == ["a", "c"]
    assert [s["id"] for s in bl.selected(d, [], ["smb"])] == ["a"]
    with pytest.raises(bl.BaselineError, match="include: 'nope' is neither a setting id nor a tag"):
        bl.check_selection(d, ["nope"], [])
    with pytest.raises(bl.BaselineError, match="exclude: 'x'"):
        bl.check_selection(d, [], ["x"])


@pytest.mark.parametrize("applies_to, release, core, applies", [
    (None, "ws2016", False, True),
    (["ws2022", "ws2025"], "ws2016", False, False),
    (["ws2022"], "ws2022", True, True),
    (["core"], "ws2019", False, False),
    (["ws2019", "desktop"], "ws2019", False, True),
    (["ws2019", "desktop"], "ws2019", True, False),
    (["ws2025"], None, False, False),
])
def test_applies_to(applies_to, release, core, applies):
    s = setting(applies_to=applies_to) if applies_to else setting()
    assert (bl.applies(s, release, core) is None) == applies


def test_host_release_from_facts():
    assert bl.host_release({"os_build": 20348, "installation_type": "Server Core"}) == ("ws2022", True)
    assert bl.host_release({"os_build": 14393, "installation_type": "Server"}) == ("ws2016", False)
    assert bl.host_release({"os_build": 99999}) == (None, False)


# ------------------------------------------------------------------------------ waivers

TODAY = dt.date(2026, 12, 7)


def test_waivers_in_force_expired_and_reported():
    d = doc(setting(id="a"), setting(id="b"))
    active, report = bl.check_waivers([
        {"id": "a", "reason": "legacy client", "expires": "2026-12-07", "approved_by": "CAB"},
        {"id": "B", "reason": "old", "expires": "2026-12-06"},
    ], d, TODAY)
    assert list(active) == ["a"]
    assert [(w["id"], w["expired"]) for w in report] == [("a", False), ("b", True)]


@pytest.mark.parametrize("waiver, words", [
    ({"id": "a", "reason": "  ", "expires": "2027-01-01"}, r"waivers\[0\] \(id a\): a waiver needs a reason"),
    ({"id": "a", "expires": "2027-01-01"}, "needs a reason"),
    ({"id": "zz", "reason": "r", "expires": "2027-01-01"}, "id 'zz' is not a setting of baseline unit"),
    ({"id": "a", "reason": "r", "expires": "31/12/2027"}, "expires must be a date YYYY-MM-DD"),
    ({"id": "a", "reason": "r", "expires": "2027-02-30"}, "is not a date"),
    ({"id": "a", "reason": "r", "expires": "2027-01-01", "by": "me"}, "unknown field"),
    ({"reason": "r", "expires": "2027-01-01"}, r"waivers\[0\]: needs an id"),
    ({"id": "a", "reason": "r"}, r"waivers\[0\] \(id a\): needs expires"),
])
def test_bad_waivers_are_refused(waiver, words):
    with pytest.raises(bl.BaselineError, match=words):
        bl.check_waivers([waiver], doc(setting(id="a")), TODAY)


def test_two_waivers_in_force_for_one_setting_are_refused():
    w = {"id": "a", "reason": "r", "expires": "2027-01-01"}
    with pytest.raises(bl.BaselineError, match="already has a waiver in force"):
        bl.check_waivers([w, dict(w)], doc(setting(id="a")), TODAY)


# ------------------------------------------------------------------------------ Test and Set

def reg_obs(values, key=REG["key"]):
    return {"registry": {key.lower(): {"exists": True, "values": values}}, "services": {}, "features": {}, "rules": {},
            "audit": None, "secpol": None, "fwprofile": None}


def run_test(s, obs, waivers=None):
    return bl.test_all([s], obs, "ws2022", False, waivers or {})[0]


@pytest.mark.parametrize("values, status", [
    ({"longpathsenabled": {"type": "REG_DWORD", "data": 1}}, "compliant"),
    ({"LongPathsEnabled": {"type": "REG_DWORD", "data": 0}}, "non_compliant"),
    ({"LongPathsEnabled": {"type": "REG_SZ", "data": "1"}}, "non_compliant"),
    ({}, "non_compliant"),
])
def test_registry_test(values, status):
    assert run_test(setting(), reg_obs(values))["status"] == status


def test_registry_range_and_absent():
    ranged = setting(expect=dict(REG, name="CachedLogonsCount", value=4, min=0, max=4))
    assert run_test(ranged, reg_obs({"CachedLogonsCount": {"type": "REG_DWORD", "data": 2}}))["status"] == "compliant"
    assert run_test(ranged, reg_obs({"CachedLogonsCount": {"type": "REG_DWORD", "data": 10}}))["status"] == "non_compliant"
    absent = setting(expect={"key": REG["key"], "name": "X", "state": "absent"})
    assert run_test(absent, reg_obs({}))["status"] == "compliant"
    r = run_test(absent, reg_obs({"x": {"type": "REG_SZ", "data": "y"}}))
    assert r["status"] == "non_compliant"
    ops = bl.set_ops([(absent, r)], reg_obs({}))
    assert ops == [(["fs.long_paths"], {"op": "registry.remove", "args": {"path": REG["key"], "name": "X"}})]


def test_tls_needs_explicit_values_and_sets_only_what_differs():
    s = setting(id="tls.tls10_server", kind="tls", expect={"protocol": "TLS 1.0", "side": "server", "enabled": False})
    key = bl.SCHANNEL + "\\Protocols\\TLS 1.0\\Server"
    empty = reg_obs({}, key)
    r = run_test(s, empty)
    assert r["status"] == "non_compliant" and "not configured" in r["note"]
    half = reg_obs({"Enabled": {"type": "REG_DWORD", "data": 0}}, key)
    r = run_test(s, half)
    ops = [op for _ids, op in bl.set_ops([(s, r)], half)]
    assert ops == [{"op": "registry.set", "args": {"path": key, "name": "DisabledByDefault", "type": "REG_DWORD", "data": 1}}]
    done = reg_obs({"Enabled": {"type": "REG_DWORD", "data": 0}, "DisabledByDefault": {"type": "REG_DWORD", "data": 1}}, key)
    assert run_test(s, done)["status"] == "compliant"
    cipher = setting(kind="tls", expect={"cipher": "RC4 128/128", "enabled": False})
    ckey = bl.SCHANNEL + "\\Ciphers\\RC4 128/128"
    assert bl.registry_keys(cipher) == [ckey]
    assert run_test(cipher, reg_obs({"Enabled": {"type": "REG_DWORD", "data": 0xFFFFFFFF}}, ckey))["status"] == "non_compliant"


def test_a_waiver_turns_non_compliant_into_waived_only():
    w = {"fs.long_paths": {"reason": "r", "expires": "2027-01-01", "approved_by": None}}
    assert run_test(setting(), reg_obs({}), w)["status"] == "waived"
    assert run_test(setting(), reg_obs({"LongPathsEnabled": {"type": "REG_DWORD", "data": 1}}), w)["status"] == "compliant"


def test_not_applicable_is_never_read():
    r = bl.test_all([setting(applies_to=["ws2016"])], reg_obs({}), "ws2022", False, {})[0]
    assert r["status"] == "not_applicable" and "ws2016" in r["note"] and r["actual"] is None


AUDIT = "{0CCE922B-69AE-11D9-BED3-505054503030}"


def test_audit_policy_checks_given_sides_and_keeps_the_other():
    s = setting(kind="audit_policy", expect={"subcategory": AUDIT, "name": "Process Creation", "success": True})
    obs = reg_obs({})
    obs["audit"] = {AUDIT: {"guid": AUDIT, "success": False, "failure": True}}
    r = run_test(s, obs)
    assert r["status"] == "non_compliant" and r["actual"] == {"success": False, "failure": True}
    assert bl.set_ops([(s, r)], obs) == [(["fs.long_paths"], {"op": "auditpol.set", "args": {
        "subcategories": [{"guid": AUDIT, "success": True, "failure": True}]}})]
    obs["audit"] = {}
    assert run_test(s, obs)["status"] == "error"


def test_security_policy_ranges_and_rights():
    lockout = setting(id="a", kind="security_policy", expect={"section": "system_access", "key": "LockoutBadCount", "value": 5, "min": 1, "max": 5})
    deny = setting(id="b", kind="security_policy", expect={"section": "privilege_rights", "right": "SeDenyNetworkLogonRight",
                                                           "holders": ["S-1-5-32-546"], "match": "includes"})
    obs = reg_obs({})
    obs["secpol"] = {"system_access": {"LockoutBadCount": 0}, "privilege_rights": {"SeDenyNetworkLogonRight": ["S-1-5-21-1-2-3-501"]}}
    r1, r2 = bl.test_all([lockout, deny], obs, "ws2022", False, {})
    assert (r1["status"], r2["status"]) == ("non_compliant", "non_compliant")
    ops = bl.set_ops([(lockout, r1), (deny, r2)], obs)
    assert ops == [(["a", "b"], {"op": "policy.configure", "args": {
        "system_access": {"LockoutBadCount": 5},
        "privilege_rights": {"SeDenyNetworkLogonRight": ["S-1-5-21-1-2-3-501", "S-1-5-32-546"]}}})]
    obs["secpol"]["system_access"]["LockoutBadCount"] = 3
    assert run_test(lockout, obs)["status"] == "compliant"


@pytest.mark.parametrize("match, have, ok", [
    ("exact", ["S-1-5-32-544"], True), ("exact", ["S-1-5-32-544", "S-1-1-0"], False),
    ("includes", ["S-1-5-32-544", "S-1-1-0"], True), ("excludes", ["S-1-1-0"], True), ("excludes", ["s-1-5-32-544"], False),
])
def test_holder_matching(match, have, ok):
    assert bl._holders_ok(match, ["S-1-5-32-544"], have) is ok


def test_service_missing_running_and_ops_in_order():
    s = setting(kind="service", expect={"name": "Spooler", "start_mode": "disabled", "state": "stopped"})
    obs = reg_obs({})
    assert run_test(s, obs)["status"] == "not_applicable"
    obs["services"]["spooler"] = {"exists": True, "start_mode": "auto", "state": "running"}
    r = run_test(s, obs)
    assert r["status"] == "non_compliant"
    assert [op["op"] for _i, op in bl.set_ops([(s, r)], obs)] == ["service.set", "service.stop"]


def test_feature_pending_and_missing():
    s = setting(kind="optional_feature", expect={"name": "SMB1Protocol", "state": "disabled"})
    obs = reg_obs({})
    obs["features"]["smb1protocol"] = {"exists": True, "state": "disable_pending", "restart_needed": True}
    r = run_test(s, obs)
    assert r["status"] == "compliant" and r["reboot_required"] is True
    obs["features"]["smb1protocol"] = {"exists": False, "state": None}
    assert run_test(s, obs)["status"] == "compliant"
    obs["features"]["smb1protocol"] = {"exists": True, "state": "enabled"}
    assert run_test(s, obs)["status"] == "non_compliant"


def test_firewall_profile_minimum_log_size_and_combined_set():
    a = setting(id="a", kind="firewall_profile", expect={"profile": "public", "enabled": True, "log_max_kb": 16384})
    b = setting(id="b", kind="firewall_profile", expect={"profile": "public", "log_blocked": True})
    obs = reg_obs({})
    obs["fwprofile"] = {"public": {"enabled": True, "log_max_kb": 4096, "log_blocked": False}}
    ra, rb = bl.test_all([a, b], obs, "ws2022", False, {})
    assert ra["status"] == rb["status"] == "non_compliant"
    assert bl.set_ops([(a, ra), (b, rb)], obs) == [(["a", "b"], {"op": "firewall.profile_set", "args": {
        "profile": "public", "log_max_kb": 16384, "log_blocked": True}})]
    obs["fwprofile"]["public"]["log_max_kb"] = 32767
    assert run_test(a, obs)["status"] == "compliant"


def test_probe_reads_each_store_once():
    settings = [setting(), setting(id="b", expect=dict(REG, name="Other")),
                setting(id="c", kind="audit_policy", expect={"subcategory": AUDIT, "name": "P", "success": True}),
                setting(id="d", kind="audit_policy", expect={"subcategory": AUDIT, "name": "P", "failure": True}),
                setting(id="e", kind="optional_feature", expect={"name": "SMB1Protocol", "state": "disabled"}),
                setting(id="f", kind="optional_feature", expect={"name": "smb1protocol", "state": "disabled"})]
    ops, _tags = bl.probe_ops(settings)
    assert [o["op"] for o in ops] == ["registry.get", "auditpol.get", "feature.get"]
    assert ops[2]["args"] == {"names": ["SMB1Protocol"]}


def test_totals_and_score():
    counts = bl.totals([{"status": s} for s in ["compliant", "compliant", "fixed", "non_compliant", "waived", "not_applicable"]])
    assert counts["compliant"] == 2 and bl.score(counts) == 75.0
    assert bl.score(bl.totals([{"status": "not_applicable"}])) == 100.0


# ------------------------------------------------------------------------------ the lockout guard

LOCAL = {"transport": "winrm", "auth": "ntlm", "port": 5985, "https": False, "account": "local", "builtin_admin": False,
         "user_name": "H\\ansible", "user_sid": "S-1-5-21-1-2-3-1001", "is_admin": True}
OBS = {"registry": {}, "services": {}, "features": {}, "rules": {}, "audit": None, "secpol": None, "fwprofile": None}


def reg_setting(key, name, value):
    return setting(expect={"key": key, "name": name, "type": "REG_DWORD", "value": value})


@pytest.mark.parametrize("s, conn, blocked", [
    (reg_setting(bl.POLICIES_SYSTEM, "LocalAccountTokenFilterPolicy", 0), LOCAL, True),
    (reg_setting(bl.POLICIES_SYSTEM, "LocalAccountTokenFilterPolicy", 0), dict(LOCAL, builtin_admin=True), False),
    (reg_setting(bl.POLICIES_SYSTEM, "LocalAccountTokenFilterPolicy", 0), dict(LOCAL, account="domain"), False),
    (reg_setting(bl.POLICIES_SYSTEM, "LocalAccountTokenFilterPolicy", 0), dict(LOCAL, transport="ssh"), False),
    (setting(expect={"key": bl.POLICIES_SYSTEM, "name": "LocalAccountTokenFilterPolicy", "state": "absent"}), LOCAL, True),
    (reg_setting(bl.POLICIES_SYSTEM, "FilterAdministratorToken", 1), dict(LOCAL, builtin_admin=True), True),
    (reg_setting(bl.POLICIES_SYSTEM, "FilterAdministratorToken", 1), LOCAL, False),
    (reg_setting(bl.MSV1_0, "RestrictReceivingNTLMTraffic", 2), LOCAL, True),
    (reg_setting(bl.MSV1_0, "RestrictReceivingNTLMTraffic", 2), dict(LOCAL, auth="kerberos"), False),
    (reg_setting(bl.MSV1_0, "RestrictReceivingNTLMTraffic", 1), LOCAL, False),
    (reg_setting(bl.WINRM_SERVICE_POLICY, "AllowBasic", 0), dict(LOCAL, auth="basic", https=True), True),
    (reg_setting(bl.WINRM_SERVICE_POLICY, "AllowBasic", 0), LOCAL, False),
    (reg_setting(bl.WINRM_SERVICE_POLICY, "AllowUnencryptedTraffic", 0), dict(LOCAL, auth="basic"), True),
    (reg_setting(bl.WINRM_SERVICE_POLICY, "AllowUnencryptedTraffic", 0), dict(LOCAL, auth="basic", https=True), False),
    (reg_setting(bl.WINRM_SERVICE_POLICY, "AllowUnencryptedTraffic", 0), LOCAL, False),
    (setting(kind="service", expect={"name": "WinRM", "start_mode": "disabled"}), LOCAL, True),
    (setting(kind="service", expect={"name": "winrm", "state": "stopped"}), dict(LOCAL, transport="psrp"), True),
    (setting(kind="service", expect={"name": "WinRM", "start_mode": "disabled"}), dict(LOCAL, transport="ssh"), False),
    (setting(kind="service", expect={"name": "sshd", "state": "stopped"}), dict(LOCAL, transport="ssh"), True),
])
def test_guards(s, conn, blocked):
    assert (bl.guard_reason(s, conn, OBS, {}) is not None) is blocked


def test_user_right_guards_use_the_holders_after_the_change():
    deny = setting(kind="security_policy", expect={"section": "privilege_rights", "right": "SeDenyNetworkLogonRight",
                                                   "holders": ["S-1-5-114"], "match": "includes"})
    assert "S-1-5-114" in bl.guard_reason(deny, LOCAL, OBS, {"SeDenyNetworkLogonRight": ["S-1-5-32-546", "S-1-5-114"]})
    assert bl.guard_reason(deny, dict(LOCAL, account="domain"), OBS, {"SeDenyNetworkLogonRight": ["S-1-5-114"]}) is None
    allow = setting(kind="security_policy", expect={"section": "privilege_rights", "right": "SeNetworkLogonRight",
                                                    "holders": ["S-1-5-32-551"]})
    assert "holds none of them" in bl.guard_reason(allow, LOCAL, OBS, {"SeNetworkLogonRight": ["S-1-5-32-551"]})
    assert bl.guard_reason(allow, LOCAL, OBS, {"SeNetworkLogonRight": ["S-1-5-32-544"]}) is None


def test_firewall_guard_looks_for_a_rule_that_keeps_the_port_open():
    s = setting(kind="firewall_profile", expect={"profile": "public", "default_inbound": "block"})
    rule = {"exists": True, "enabled": True, "direction": "inbound", "action": "allow", "protocol": "tcp",
            "local_ports": ["5985"], "profiles": ["domain", "private"]}
    obs = copy.deepcopy(OBS)
    obs["rules"] = {"winrm-http-in-tcp": rule}
    assert "public profile" in bl.guard_reason(s, LOCAL, obs, {})
    rule["profiles"] = ["any"]
    assert bl.guard_reason(s, LOCAL, obs, {}) is None
    rule["local_ports"] = ["5000-6000"]
    assert bl.guard_reason(s, LOCAL, obs, {}) is None
    rule["enabled"] = False
    assert bl.guard_reason(s, LOCAL, obs, {}) is not None
    assert bl.guard_rules(LOCAL, ["mine"]) == list(bl.WINRM_RULES[5985]) + ["mine"]


def test_schema_file_is_plain_json():
    with open(bl.SCHEMA_PATH, encoding="utf-8") as f:
        assert json.load(f)["properties"]["schema"]["const"] == "gowin.server/baseline/1"


# ------------------------------------------------------------------------------ documents that are valid YAML but hostile or odd

def test_an_alias_bomb_is_refused_by_its_size_quickly(tmp_path):
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for n in "bcdefghi":
        text += "%s: &%s [%s]\n" % (n, n, ",".join(["*" + prev] * 9))
        prev = n
    text += "schema: gowin.server/baseline/1\nname: bomb\ntitle: *i\nsettings: []\n"
    path = tmp_path / "bomb.yml"
    path.write_text(text)
    with pytest.raises(bl.BaselineError, match="more than 200000 values"):
        bl.load(str(path), [])


def test_a_deeply_nested_document_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "deep.yml"
    path.write_text("schema: x\ntitle: " + "[" * 60000 + "]" * 60000 + "\n")
    with pytest.raises(bl.BaselineError, match="nests brackets more than 64 levels deep"):
        bl.load(str(path), [])
    path.write_text("schema: x\ntitle: " + "[" * 20 + "]" * 20 + "\n")
    with pytest.raises(bl.BaselineError, match="nested more than 16 levels deep"):
        bl.load(str(path), [])


def test_a_key_given_twice_is_refused(tmp_path):
    path = tmp_path / "dup.yml"
    path.write_text(yaml.safe_dump(doc()) + "settings: []\n")
    with pytest.raises(bl.BaselineError, match="found the key 'settings' twice"):
        bl.load(str(path), [])


def test_a_json_document_is_read_as_json(tmp_path):
    d = doc(setting(title="caf\u00e9 \U0001F600"))
    path = tmp_path / "b.json"
    path.write_text(json.dumps(d, ensure_ascii=True))
    assert bl.load(str(path), [])["settings"][0]["title"] == "caf\u00e9 \U0001F600"
    path.write_text("{not json")
    with pytest.raises(bl.BaselineError, match="is not valid JSON"):
        bl.load(str(path), [])


def test_control_characters_and_dates_are_named(tmp_path):
    path = tmp_path / "b.yml"
    path.write_text(yaml.safe_dump(doc(setting(title="a\x07b"))))
    with pytest.raises(bl.BaselineError, match=re.escape("settings[0] (id fs.long_paths) title: contains the control character U+0007")):
        bl.load(str(path), [])
    d = doc(setting(title=dt.date(2027, 1, 31)))
    with pytest.raises(bl.BaselineError, match="a date .YAML reads an unquoted 2027-01-31 as a date: quote it"):
        bl.check_document(d, "")


@pytest.mark.parametrize("key, words", [
    ("HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion/Policies/System", "has '/' in the key name"),
    ("HKLM\\SOFTWARE\\GoWin ", "leading or trailing space"),
])
def test_registry_keys_that_nothing_would_read_are_refused(key, words):
    with pytest.raises(bl.BaselineError, match=words):
        bl.check_document(doc(setting(expect=dict(REG, key=key))), "")


def test_a_cipher_key_may_hold_a_slash():
    s = setting(expect=dict(REG, key=bl.SCHANNEL + "\\Ciphers\\AES 128/128", name="Enabled", value=1))
    bl.check_document(doc(s), "")


def test_two_settings_that_contradict_each_other_are_refused():
    a = setting(id="a")
    b = setting(id="b", expect=dict(REG, value=0))
    with pytest.raises(bl.BaselineError, match="a and b set the same thing"):
        bl.check_document(doc(a, b), "")
    c = setting(id="c", expect=dict(REG, key="HKLM\\SYSTEM\\ControlSet001\\Control\\FileSystem", value=0))
    with pytest.raises(bl.BaselineError, match="a and c set the same thing"):
        bl.check_document(doc(a, c), "")
    tls_off = setting(id="t1", kind="tls", expect={"protocol": "TLS 1.0", "side": "server", "enabled": False})
    tls_on = setting(id="t2", kind="tls", expect={"protocol": "TLS 1.0", "side": "server", "enabled": True})
    with pytest.raises(bl.BaselineError, match="t1 and t2"):
        bl.check_document(doc(tls_off, tls_on), "")
    svc1 = setting(id="s1", kind="service", expect={"name": "Spooler", "start_mode": "disabled"})
    svc2 = setting(id="s2", kind="service", expect={"name": "spooler", "start_mode": "auto", "state": "running"})
    with pytest.raises(bl.BaselineError, match="s1 and s2"):
        bl.check_document(doc(svc1, svc2), "")
    bl.check_document(doc(a, setting(id="same", expect=dict(REG))), "")  # agreeing settings are fine


def test_inline_settings_that_contradict_the_document_are_refused(tmp_path):
    path = tmp_path / "b.yml"
    path.write_text(yaml.safe_dump(doc()))
    with pytest.raises(bl.BaselineError, match="^settings: fs.long_paths and mine set the same thing"):
        bl.load(str(path), [setting(id="mine", expect=dict(REG, value=0))])


@pytest.mark.parametrize("key, value", [("MinimumPasswordLength", 200), ("PasswordComplexity", 7), ("ResetLockoutCount", 0)])
def test_account_policy_values_out_of_the_windows_range_are_refused(key, value):
    s = setting(kind="security_policy", expect={"section": "system_access", "key": key, "value": value})
    with pytest.raises(bl.BaselineError, match="outside what Windows takes for " + key):
        bl.check_document(doc(s), "")


@pytest.mark.parametrize("s", [
    reg_setting("HKLM\\SYSTEM\\ControlSet001\\Control\\Lsa\\MSV1_0", "RestrictReceivingNTLMTraffic", 2),
    reg_setting("HKLM\\SYSTEM\\CurrentControlSet\\Services\\WinRM", "Start", 4),
    setting(expect={"key": "HKLM\\SYSTEM\\ControlSet002\\Services\\winrm", "name": "Start", "state": "absent"}),
])
def test_guards_see_through_other_spellings(s):
    assert bl.guard_reason(s, LOCAL, OBS, {}) is not None


def test_tags_are_matched_in_any_case_and_multi_sz_cannot_hold_an_empty_string():
    d = doc(setting(id="a", tags=["ipv6"]))
    bl.check_selection(d, ["IPV6"], [])
    assert [x["id"] for x in bl.selected(d, ["IPv6"], [])] == ["a"]
    with pytest.raises(bl.BaselineError, match="REG_MULTI_SZ cannot hold"):
        bl.check_document(doc(setting(expect=dict(REG, type="REG_MULTI_SZ", value=["a", "", "b"]))), "")


# ------------------------------------------------------------------------------ wdac

WDAC = {"record": "GoWinAudit", "example": "DefaultWindows_Audit", "mode": "audit", "name": "GoWin audit"}


def wdac_obs(records=None, kernel="off", activation="citool"):
    obs = reg_obs({})
    obs["wdac"] = {"format": "multiple", "activation": activation, "kernel": kernel, "user": kernel,
                   "examples": ["AllowAll", "DefaultWindows_Audit"], "records": records or {}}
    return obs


def wdac_record(**over):
    rec = {"policy_id": "{A244370E-44C9-4C06-B551-F6016E563076}", "mode": "audit", "example": "DefaultWindows_Audit",
           "name": "GoWin audit", "sha256": "ab" * 32, "file_sha256": "ab" * 32,
           "file": "C:\\Windows\\System32\\CodeIntegrity\\CiPolicies\\Active\\{A244370E-44C9-4C06-B551-F6016E563076}.cip"}
    rec.update(over)
    return rec


@pytest.mark.parametrize("records, kernel, activation, status, pending, note", [
    ({}, "off", "citool", "non_compliant", False, "no policy deployed"),
    ({"gowinaudit": wdac_record()}, "audit", "citool", "compliant", False, None),
    ({"GoWinAudit": wdac_record()}, "enforced", "citool", "compliant", False, None),
    ({"GoWinAudit": wdac_record(mode="enforced")}, "enforced", "citool", "non_compliant", False, "enforced mode"),
    ({"GoWinAudit": wdac_record(name="other")}, "audit", "citool", "non_compliant", False, "'other'"),
    ({"GoWinAudit": wdac_record(file_sha256=None)}, "audit", "citool", "non_compliant", False, "missing"),
    ({"GoWinAudit": wdac_record(file_sha256="cd" * 32)}, "audit", "citool", "non_compliant", False, "missing"),
    ({"GoWinAudit": wdac_record()}, "off", "citool", "non_compliant", False, "reports off"),
    ({"GoWinAudit": wdac_record(pending=True)}, "off", "restart", "compliant", True, "restarts"),
    # deployed before this boot for the restart and still not loaded: Windows did not take it
    ({"GoWinAudit": wdac_record(pending=False)}, "off", "restart", "non_compliant", False, "reports off"),
    # enforced loaded, audit deployed in this boot (a change of mode): compliant, waiting for the restart
    ({"GoWinAudit": wdac_record(mode="audit", pending=True)}, "enforced", "restart", "compliant", True, "restarts"),
    ({"GoWinAudit": wdac_record(pending="yes")}, "off", "restart", "non_compliant", False, "reports off"),  # only true is true
])
def test_wdac_test(records, kernel, activation, status, pending, note):
    s = setting(id="wdac.audit", kind="wdac", expect=dict(WDAC))
    r = run_test(s, wdac_obs(records, kernel, activation))
    assert (r["status"], r["reboot_required"]) == (status, pending)
    assert (r["note"] is None) if note is None else (note in r["note"])
    assert r["evidence"]["source"] == "wdac" and r["evidence"]["activation"] == activation


def test_wdac_probe_set_ops_and_unread_state():
    s = setting(id="wdac.audit", kind="wdac", expect={"record": "GoWinAudit", "example": "DefaultWindows_Audit", "mode": "audit"})
    ops, _tags = bl.probe_ops([s, setting(id="w2", kind="wdac", expect=dict(WDAC, record="Other"))])
    assert ops == [{"op": "wdac.get", "args": {}}]
    obs = wdac_obs()
    r = run_test(s, obs)
    assert bl.set_ops([(s, r)], obs) == [(["wdac.audit"], {"op": "wdac.set", "args": {
        "record": "GoWinAudit", "example": "DefaultWindows_Audit", "mode": "audit", "name": "GoWin GoWinAudit"}})]
    assert run_test(s, reg_obs({}))["status"] == "error"
    s2 = setting(id="wdac.audit", kind="wdac", expect=dict(WDAC, example="NoSuchExample"))
    assert "no example policy NoSuchExample" in run_test(s2, obs)["note"]
    s3 = setting(id="wdac.audit", kind="wdac", expect=dict(WDAC, example="defaultwindows_audit"))
    assert run_test(s3, obs)["note"] == "no policy deployed"  # example names in any case, as the host matches them


def test_enforced_wdac_is_chosen_only_by_its_id_and_guarded():
    enforced = setting(id="wdac.enforced", kind="wdac", tags=["wdac"], expect=dict(WDAC, record="GoWinEnforced", mode="enforced"))
    audit = setting(id="wdac.audit", kind="wdac", tags=["wdac"], expect=dict(WDAC))
    d = doc(audit, enforced)
    assert [s["id"] for s in bl.selected(d, [], [])] == ["wdac.audit"]
    assert [s["id"] for s in bl.selected(d, ["wdac"], [])] == ["wdac.audit"]
    assert [s["id"] for s in bl.selected(d, ["wdac.enforced"], [])] == ["wdac.enforced"]
    for transport in ("winrm", "psrp", "ssh"):
        assert "ConstrainedLanguage" in bl.guard_reason(enforced, dict(LOCAL, transport=transport), OBS, {})
    assert bl.guard_reason(audit, LOCAL, OBS, {}) is None


@pytest.mark.parametrize("expect, words", [
    ({"record": "GoWin Audit", "example": "DefaultWindows_Audit", "mode": "audit"}, ["expect.record", "record name"]),
    ({"record": "GoWinAudit", "example": "..\\x", "mode": "audit"}, ["expect.example", "example policy"]),
    ({"record": "GoWinAudit", "example": "DefaultWindows_Audit", "mode": "on"}, ["expect.mode", "audit", "enforced"]),
    ({"record": "GoWinAudit", "example": "DefaultWindows_Audit", "mode": "audit", "name": "a\\b"}, ["expect.name", "policy name"]),
    ({"record": "GoWinAudit", "mode": "audit"}, ["expect", "example"]),
    ({"record": "GoWinAudit", "example": "DefaultWindows_Audit", "mode": "audit", "file": "x"}, ["expect", "file"]),
])
def test_bad_wdac_settings_are_refused_naming_the_field(expect, words):
    with pytest.raises(bl.BaselineError) as err:
        bl.check_document(doc(setting(id="wdac.audit", kind="wdac", expect=expect)), "unit")
    for w in words:
        assert w in str(err.value)


def test_two_wdac_settings_for_one_record_contradict():
    d = doc(setting(id="a", kind="wdac", expect=dict(WDAC)), setting(id="b", kind="wdac", expect=dict(WDAC, record="gowinaudit", mode="enforced")))
    assert any("a and b set the same thing" in c for c in bl._conflicts(d))  # pylint: disable=protected-access


def test_wdac_policy_name_defaults_to_gowin_and_the_record_within_64_characters():
    assert bl.policy_name({"record": "GoWinAudit"}) == "GoWin GoWinAudit"
    long = "R" * 64
    assert bl.policy_name({"record": long}) == ("GoWin " + long)[:64] and len(bl.policy_name({"record": long})) == 64
    assert bl.policy_name({"record": long, "name": "Mine"}) == "Mine"

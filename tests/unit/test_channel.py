"""The channel: what travels, and how anything but the agent's JSON document becomes a clear error."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from ansible_collections.gowin.server.plugins.plugin_utils import _channel as ch

AGENT = "param([string]$RequestJson, [string]$AgentHash)\n# an agent\n" + "Write-Output 'x'\n" * 200
HASH = "ab" * 32


def test_payload_round_trip_and_size():
    ops = [{"op": "registry.get", "args": {"path": "HKLM\\SOFTWARE\\Ä"}}]
    payload = ch.build_payload(AGENT, ops)
    payload.decode("ascii")  # stdin goes through the OEM code page: ASCII only
    assert b"\\u00c4" in payload
    agent, request = ch.split_payload(payload)
    assert agent == AGENT and request == {"v": 1, "ops": ops}
    assert len(payload) < len(AGENT) / 3  # the agent travels compressed
    assert ch.pack_agent(AGENT) == ch.pack_agent(AGENT)  # deterministic


def test_shipped_agent_packs_small_and_the_command_is_the_bootstrap():
    files = ch.load_agent_files()
    text, digest, packed = files.assemble(tuple(sorted(files.families)))
    assert packed == ch.pack_agent(text) and len(packed) < len(text) / 2
    assert len(digest) == 64
    encoded = ch.BOOTSTRAP_COMMAND[len(ch.POWERSHELL_PREFIX):]
    assert base64.b64decode(encoded).decode("utf-16-le") == ch.BOOTSTRAP


@pytest.mark.parametrize("payload", [b"no marker at all", b"!!!notbase64\n#GOWIN-REQUEST#\n{}"])
def test_split_refuses_what_is_not_a_payload(payload):
    with pytest.raises(ValueError):
        ch.split_payload(payload)


def doc(**kw):
    d = {"v": 1, "agent": HASH, "results": [{"ok": True, "data": {}}]}
    d.update(kw)
    return json.dumps(d)


def test_a_noisy_profile_before_the_document_is_tolerated():
    out = "Welcome to CORP!\r\nLoading profile...\r\n" + doc() + "\r\n"
    assert ch.parse_response(out, "", 0, HASH, 1) == [{"ok": True, "data": {}}]


@pytest.mark.parametrize("stdout,stderr,fragment", [
    ("", "", "Output started with: (nothing)"),
    ("Cannot invoke method. Method invocation is supported only on core types in this language mode.", "",
     "ConstrainedLanguage"),
    ("", "'PowerShell' is not recognized as an internal or external command", "Windows PowerShell 5.1"),
    ("<html>proxy error</html>", "", "'<html>proxy error</html>'"),
    ('{"v": 2, "agent": "x", "results": []}', "", "did not answer with its JSON document"),
])
def test_other_output_becomes_a_clear_error_quoting_it(stdout, stderr, fragment):
    with pytest.raises(ch.ChannelError) as err:
        ch.parse_response(stdout, stderr, 1, HASH, 1)
    assert fragment in str(err.value)
    assert err.value.kind == "protocol"


def test_a_long_answer_is_quoted_only_in_part():
    with pytest.raises(ch.ChannelError) as err:
        ch.parse_response("x" * 5000, "", 1, HASH, 1)
    assert len(str(err.value)) < 1200 and "..." in str(err.value)


def test_wrong_agent_fatal_and_malformed_results():
    with pytest.raises(ch.ChannelError) as err:
        ch.parse_response(doc(agent="cd" * 32), "", 0, HASH, 1)
    assert "refusing a mismatched agent" in str(err.value)
    with pytest.raises(ch.ChannelError) as err:
        ch.parse_response(json.dumps({"v": 1, "fatal": {"kind": "internal", "message": "boom"}}), "", 1, HASH, 1)
    assert "boom" in str(err.value) and err.value.kind == "internal"
    with pytest.raises(ch.ChannelError):
        ch.parse_response(doc(results=[{}, {}]), "", 0, HASH, 1)  # more results than ops sent


class FakeAction:
    def __init__(self, answer):
        self.answer = answer
        self.calls = []

    def _low_level_execute_command(self, cmd, in_data=None, sudoable=True):
        self.calls.append((cmd, in_data, sudoable))
        return self.answer


def test_run_sends_the_bootstrap_with_the_payload_on_stdin_and_not_sudoable():
    text, digest, _packed = ch.load_agent_files().for_ops([{"op": "host.facts"}])
    action = FakeAction({"rc": 0, "stdout": json.dumps({"v": 1, "agent": digest, "results": [{"ok": True, "data": {"x": 1}}]}),
                         "stderr": ""})
    channel = ch.Channel(action)
    assert channel.run_checked([{"op": "host.facts", "args": {}}]) == [{"x": 1}]
    cmd, in_data, sudoable = action.calls[0]
    assert cmd == ch.BOOTSTRAP_COMMAND and sudoable is False
    assert ch.split_payload(in_data)[0] == text
    assert channel.round_trips == 1
    assert channel.run([]) == [] and channel.round_trips == 1  # nothing to send: no round trip


def test_run_checked_raises_at_the_failed_op():
    _text, digest, _packed = ch.load_agent_files().for_ops([])
    answer = {"v": 1, "agent": digest, "results": [{"ok": True, "data": {}},
                                                   {"ok": False, "error": {"kind": "in_use", "message": "locked"}}]}
    channel = ch.Channel(FakeAction({"rc": 0, "stdout": json.dumps(answer), "stderr": ""}))
    with pytest.raises(ch.OpError) as err:
        channel.run_checked([{"op": "a", "args": {}}, {"op": "b", "args": {}}, {"op": "c", "args": {}}])
    assert err.value.index == 1 and err.value.kind == "in_use" and str(err.value) == "locked"


def test_a_missing_agent_is_a_clear_error(tmp_path):
    with pytest.raises(ch.ChannelError) as err:
        ch.Channel(FakeAction({}), agent_dir=str(tmp_path / "_agent"))
    assert "missing or damaged in this installation" in str(err.value) and err.value.kind == "install"


CORE = "param([string]$RequestJson)\n# core\nfunction Register-AgentOps { }\n\n# @FAMILIES@\n\n    $line\n"


def family(name, ops, requires="(none)", extra=""):
    table = "".join("    '%s' = @{ accepted = @(); run = { param($a) Invoke-X $a } }\n" % op for op in ops)
    return "# family %s\n# requires: %s\nRegister-AgentOps @{\n%s}\n\nfunction Invoke-X {\n    # say\n    1\n}\n%s" % (
        name, requires, table, extra)


def write_agent(folder, files):
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return str(folder)


def test_the_assembly_is_core_with_the_needed_families_in_name_order_minified(tmp_path):
    folder = write_agent(tmp_path / "a", {
        "core.ps1": CORE,
        "fs.ps1": family("fs", ["file.stat", "dir.list"]),
        "zip.ps1": family("zip", ["zip.extract"], requires="fs"),
        "acl.ps1": family("acl", ["acl.get"]),
    })
    files = ch.AgentFiles(folder)
    assert files.op_family == {"file.stat": "fs", "dir.list": "fs", "zip.extract": "zip", "acl.get": "acl"}
    assert files.families_for([{"op": "zip.extract"}]) == ("fs", "zip")
    assert files.families_for([{"op": "acl.get"}, {"op": "dir.list"}, {"op": "nope"}, "junk"]) == ("acl", "fs")
    assert files.families_for([{"op": "nope"}]) == ()
    text, digest, packed = files.for_ops([{"op": "zip.extract"}])
    # comments, blank lines and indentation are gone; fs comes before zip; acl is not sent
    assert text.startswith("param([string]$RequestJson)\nfunction Register-AgentOps { }\nRegister-AgentOps @{\n'file.stat'")
    assert text.index("'file.stat'") < text.index("'zip.extract'") and "acl.get" not in text
    assert "#" not in text and text.endswith("\n$line")
    assert digest == hashlib.sha256(text.encode("utf-8")).hexdigest() and packed == ch.pack_agent(text)
    assert files.for_ops([])[0] == "param([string]$RequestJson)\nfunction Register-AgentOps { }\n$line"


@pytest.mark.parametrize("files, fragment", [
    ({"fs.ps1": family("fs", ["a.b"])}, "core.ps1"),
    ({"core.ps1": "no mark\n", "fs.ps1": family("fs", ["a.b"])}, "# @FAMILIES@"),
    ({"core.ps1": CORE, "fs.ps1": "Register-AgentOps @{\n}\n"}, "no '# requires:' line"),
    ({"core.ps1": CORE, "fs.ps1": "# requires: (none)\n"}, "exactly one Register-AgentOps table"),
    ({"core.ps1": CORE, "fs.ps1": family("fs", ["a.b"], requires="zip")}, "requires the family 'zip'"),
    ({"core.ps1": CORE, "fs.ps1": family("fs", ["a.b"]), "go.ps1": family("go", ["a.b"])}, "declared by both"),
    ({"core.ps1": CORE, "Fs.ps1": family("fs", ["a.b"])}, "lower-case"),
])
def test_a_damaged_agent_folder_is_refused(tmp_path, files, fragment):
    folder = write_agent(tmp_path / "a", files)
    with pytest.raises((ValueError, OSError)) as err:
        ch.AgentFiles(folder)
    assert fragment in str(err.value)
    with pytest.raises(ch.ChannelError) as caught:
        ch.Channel(FakeAction({}), agent_dir=folder)
    assert caught.value.kind == "install"


def test_agent_files_are_read_again_when_a_file_changes(tmp_path):
    folder = write_agent(tmp_path / "a", {"core.ps1": CORE, "fs.ps1": family("fs", ["file.stat"])})
    first = ch.load_agent_files(folder)
    assert ch.load_agent_files(folder) is first
    (tmp_path / "a" / "fs.ps1").write_text(family("fs", ["file.stat", "dir.list"]) + "# longer now\n", encoding="utf-8")
    second = ch.load_agent_files(folder)
    assert second is not first and "dir.list" in second.op_family


def test_minify_keeps_code_and_drops_comments_blank_lines_and_indentation():
    assert ch.minify("# c\n\n  $a = 1 # trailing stays\n\t  # indented comment\n    if ($a) { 'x' }\n") == (
        "$a = 1 # trailing stays\nif ($a) { 'x' }")

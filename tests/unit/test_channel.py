"""The channel: what travels, and how anything but the agent's JSON document becomes a clear error."""

from __future__ import annotations

import base64
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
    text, digest = ch.load_agent()
    assert len(ch.pack_agent(text)) < len(text) / 2
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
    text, digest = ch.load_agent()
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
    _text, digest = ch.load_agent()
    answer = {"v": 1, "agent": digest, "results": [{"ok": True, "data": {}},
                                                   {"ok": False, "error": {"kind": "in_use", "message": "locked"}}]}
    channel = ch.Channel(FakeAction({"rc": 0, "stdout": json.dumps(answer), "stderr": ""}))
    with pytest.raises(ch.OpError) as err:
        channel.run_checked([{"op": "a", "args": {}}, {"op": "b", "args": {}}, {"op": "c", "args": {}}])
    assert err.value.index == 1 and err.value.kind == "in_use" and str(err.value) == "locked"


def test_a_missing_agent_is_a_clear_error(tmp_path):
    with pytest.raises(ch.ChannelError) as err:
        ch.Channel(FakeAction({}), agent_path=str(tmp_path / "agent.ps1"))
    assert "missing from this installation" in str(err.value)

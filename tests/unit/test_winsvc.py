# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Service facts the controller computes (_winsvc) and the parts of winsim's SCM model that no
contract vector can show: secrets never reach the model's files, crashes, group-policy-owned rights,
and the behaviour marker read from real Go builds (tests/fixtures/build.py)."""

from __future__ import annotations

import importlib.util
import os
import random
import typing as t
from pathlib import Path

import pytest

from ansible_collections.gowin.server.plugins.plugin_utils import _winsvc
from ansible_collections.gowin.server.plugins.plugin_utils._winsim import WinSimHost
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.service import behaviour_of

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("gowin_fixture_build", os.path.join(HERE, "..", "fixtures", "build.py"))
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


@pytest.fixture(scope="module")
def go_build() -> t.Callable[[str], bytes]:
    try:
        go = build.go_binary()
        build.go_version(go)
    except build.GoMissing as e:
        pytest.skip(str(e))
    return lambda name: Path(build.build(name, go)).read_bytes()


def test_service_sid_is_the_sha1_of_the_upper_case_name() -> None:
    # NT SERVICE\TrustedInstaller has this SID on every Windows host.
    expected = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
    assert _winsvc.service_sid("TrustedInstaller") == expected
    assert _winsvc.service_sid("trustedinstaller") == expected
    assert _winsvc.service_sid("orders-api") != expected
    assert _winsvc.upcase("stra\u00dfe") == "STRA\u00dfE"  # one character for one, as RtlUpcaseUnicodeString


@pytest.mark.parametrize("args", [
    ["C:\\opt\\x.exe"],
    ["C:\\Program Files\\x.exe", "--config", "C:\\Program Data\\a b.yaml"],
    ["x.exe", "", "a\"b", "trailing\\", "trail space\\", "\\\\server\\share\\", 'say "hi"', "\t", "a\\\\\"b"],
])
def test_command_line_reads_back_as_the_same_arguments(args: list[str]) -> None:
    line = _winsvc.command_line(args)
    assert _winsvc.split_command_line(line) == args


def test_command_line_round_trips_random_arguments() -> None:
    rng = random.Random(7)
    alphabet = 'ab \\"\t-=$%'
    for _round in range(500):
        args = ["C:\\p\\x.exe"] + ["".join(rng.choice(alphabet) for _char in range(rng.randint(0, 8))) for _arg in range(rng.randint(0, 4))]
        assert _winsvc.split_command_line(_winsvc.command_line(args)) == args, args


def test_split_reads_the_program_as_windows_does() -> None:
    # The first element ends at the next quote, backslashes literal; an unquoted one at a space.
    assert _winsvc.split_command_line('"C:\\a b\\x.exe" -k') == ["C:\\a b\\x.exe", "-k"]
    assert _winsvc.split_command_line("C:\\a\\x.exe -k netsvcs") == ["C:\\a\\x.exe", "-k", "netsvcs"]
    assert _winsvc.split_command_line('x.exe a""b "c""d"') == ["x.exe", "ab", 'c"d']


def _service(host: WinSimHost, name: str, image: str, **more: t.Any) -> dict:
    (result,) = host.execute([{"op": "service.set", "args": dict(name=name, create=True, image_path=image, start_mode="manual", **more)}])
    assert result["ok"], result
    return result["data"]


def _put(host: WinSimHost, tmp_path: Path, path: str, data: bytes) -> None:
    local = tmp_path / "upload.bin"
    local.write_bytes(data)
    host.put(str(local), path)


def _state_files(state_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(state_dir.rglob("*")) if p.is_file())


def test_secrets_never_reach_the_models_files(tmp_path: Path, go_build: t.Callable[[str], bytes]) -> None:
    host = WinSimHost(str(tmp_path / "sim"), "win1")
    host.add_account("svc-user", "S-1-5-21-3623811015-3361044348-30300820-1010")
    _put(host, tmp_path, "C:\\svc\\a.exe", go_build("svcnative-amd64"))
    password, secret = "Pa55-w0rd-for-the-model", "t0ken-in-the-environment"
    data = _service(host, "svc-a", '"C:\\svc\\a.exe"', account=".\\svc-user", password=password,
                    environment={"PLAIN": "plain-value"}, secret_environment={"TOKEN": secret},
                    digest_key="00" * 16)
    assert [e["name"] for e in data["environment"]] == ["PLAIN", "TOKEN"]
    assert host.service_state("svc-a")["password_set"] is True
    blob = _state_files(tmp_path / "sim")
    assert b"plain-value" in blob  # the check can see values: plain ones are stored
    assert password.encode() not in blob
    assert secret.encode() not in blob
    assert secret.encode("utf-16-le") not in blob


def test_a_failed_op_never_echoes_a_secret_environment_value(tmp_path: Path) -> None:
    host = WinSimHost(str(tmp_path), "win1")
    (result,) = host.execute([{"op": "service.set", "args": {"name": "x", "secret_environment": {"bad=name": "s3cret-in-message"}}}])
    assert not result["ok"] and "s3cret-in-message" not in result["error"]["message"]


def test_a_user_account_without_the_logon_right_fails_1069_until_granted(tmp_path: Path, go_build: t.Callable[[str], bytes]) -> None:
    host = WinSimHost(str(tmp_path / "sim"), "win1")
    sid = "S-1-5-21-3623811015-3361044348-30300820-1010"
    host.add_account("svc-user", sid)
    _put(host, tmp_path, "C:\\svc\\a.exe", go_build("svcnative-amd64"))
    _service(host, "svc-a", '"C:\\svc\\a.exe"', account=".\\svc-user", password="pw-1")
    (failed,) = host.execute([{"op": "service.start", "args": {"name": "svc-a"}}])
    assert failed["error"]["kind"] == "service_failed" and "1069" in failed["error"]["message"]
    (granted,) = host.execute([{"op": "policy.user_right", "args": {"right": "SeServiceLogonRight", "sid": sid, "grant": True}}])
    assert granted["data"] == {"has_right": True, "changed": True, "policy_owned": False}
    (started,) = host.execute([{"op": "service.start", "args": {"name": "svc-a"}}])
    assert started["ok"] and started["data"]["modelled"] is True
    assert "*" + sid in host.user_right_holders("SeServiceLogonRight")


def test_a_gmsa_needs_no_password_but_the_right(tmp_path: Path, go_build: t.Callable[[str], bytes]) -> None:
    host = WinSimHost(str(tmp_path / "sim"), "win1")
    sid = "S-1-5-21-1004336348-1177238915-682003330-4120"
    host.add_account("CORP\\svc-orders$", sid)
    _put(host, tmp_path, "C:\\svc\\a.exe", go_build("svcnative-amd64"))
    _service(host, "svc-a", '"C:\\svc\\a.exe"', account="CORP\\svc-orders$")
    host.execute([{"op": "policy.user_right", "args": {"right": "SeServiceLogonRight", "sid": sid, "grant": True}}])
    (started,) = host.execute([{"op": "service.start", "args": {"name": "svc-a"}}])
    assert started["ok"], started


def test_a_crash_stops_the_service_and_frees_its_binary(tmp_path: Path, go_build: t.Callable[[str], bytes]) -> None:
    host = WinSimHost(str(tmp_path / "sim"), "win1")
    _put(host, tmp_path, "C:\\svc\\a.exe", go_build("svcnative-amd64"))
    _service(host, "svc-a", '"C:\\svc\\a.exe"')
    host.execute([{"op": "service.start", "args": {"name": "svc-a"}}])
    (busy,) = host.execute([{"op": "path.remove", "args": {"path": "C:\\svc\\a.exe"}}])
    assert busy["error"]["kind"] == "in_use"
    host.crash_service("svc-a")
    assert host.service_state("svc-a")["state"] == "stopped"
    (info,) = host.execute([{"op": "service.get", "args": {"name": "svc-a"}}])
    assert info["data"]["exit_code"] == 1067 and info["data"]["pid"] is None
    (removed,) = host.execute([{"op": "path.remove", "args": {"path": "C:\\svc\\a.exe"}}])
    assert removed["ok"], removed


def test_a_right_a_group_policy_sets_is_reported_policy_owned(tmp_path: Path) -> None:
    host = WinSimHost(str(tmp_path), "win1")
    host.set_policy_right("SeServiceLogonRight")
    (result,) = host.execute([{"op": "policy.user_right", "args": {"right": "SeServiceLogonRight", "sid": "S-1-5-80-0"}}])
    assert result["data"]["policy_owned"] is True


def test_the_behaviour_marker_comes_from_the_real_build(go_build: t.Callable[[str], bytes]) -> None:
    assert behaviour_of(go_build("svcnative-hang-amd64")) == {"stop": "hang"}
    assert behaviour_of(go_build("svcnative-exit-amd64")) == {"start": "exit", "exit_code": 3}
    # The plain build holds the marker's prefix (the program's own constant) but no object after it.
    plain = go_build("svcnative-amd64")
    assert b"gowin-winsim-behaviour:" in plain
    assert behaviour_of(plain) == {}
    assert behaviour_of(b"xx gowin-winsim-behaviour:{not json} gowin-winsim-behaviour:[1]") == {}

# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The agent contract: every vector in vectors/*.yml, run through the real channel encoding.

Each vector runs against winsim (a fresh simulated host per vector). The same vectors, except
those marked ``winsim_only``, run against a real Windows host over WinRM (pypsrp) when
``GOWIN_TEST_HOST``, ``GOWIN_TEST_USER`` and ``GOWIN_TEST_PASSWORD`` are set (optional:
``GOWIN_TEST_PORT``, ``GOWIN_TEST_SSL`` (default true), ``GOWIN_TEST_AUTH`` (default negotiate),
and ``GOWIN_TEST_HTTP_ADDR``: an address of this machine the host can reach, for the download
and zip vectors, which fetch their fixtures from a small HTTP server the runner starts).

Vector format (one list per family file):

  name: what it shows                 winsim_only: true   (+ reason: why)
  profile / arch:  winsim host profile (default ws2022 / amd64)
  setup:   [{op, args} | {put: PATH, fixture: NAME} | {put: PATH, text: STR}]   reach the starting state
  shares / locks / readonly / accounts / faults:  winsim-only state (UNC share files, open files, read-only
           files, accounts, fault hooks)
  op + args + expect   or   batch: [{op, args}] + expect: [one per result]
  expect:  {ok: true, data: {...}} | {ok: false, error: {kind: K, message_contains: [..]}} | {connection_failure: true}
           dicts match as subsets; lists match element by element and must have the same length;
           "<any>", "<absent>", "<int>", "<bool>", "<str>", "<sid>", "<sha256>", "<thumbprint>", "<utc>" match by kind;
           "<exact>": true in a dict forbids extra keys; {"<contains>": [...]} is a list holding at least those items
  then:    [{op, args, expect}]    checks of the resulting state, each its own round trip
  cleanup: [{op, args}]            put back what the vector changed outside its scratch names (a feature, a firewall
           profile setting), each its own round trip, run after the vector even when it failed; each must succeed.
           Every vector that changes such host-wide state has them, and runs alone on a real host (a lock file)
  state_unchanged: true            (winsim) the host's snapshot is byte-for-byte the same after the op
On a real host, the audit subcategories and security policy settings that a vector's auditpol.set and
policy.configure ops name are read before it and put back after it (RealHostTarget.remember_policy).

Placeholders in any string: {root} (scratch folder), {reg} (scratch registry key), {http}, {https},
{url:FIXTURE}, {zip:NAME} (= {url:zip:NAME}), {sha256:FIXTURE}, {size:FIXTURE} (an integer),
{x:N} (N x's), {char:HEX} (the UTF-16 code unit U+HEX, e.g. a lone surrogate, which YAML cannot hold),
{user_sid}, {user_name}, {computer_name} (from host.facts), {source:a|b|c} (event source names of this vector; {source_upper:X} in upper case;
removed after it on a real host), {service:a|b|c} (service names of this vector, stopped and removed after it on a real host;
{service_upper:X} in upper case; {service_sid:X} the service SID of that name, whose user rights are revoked after it), {rule:a|b|c} (firewall rule
names, removed after it on a real host), {task:a|b|c} (scheduled task paths \\GoWinContract\\<scratch>-X, removed after it on a real host;
{task_upper:X} in upper case).
Fixtures named go:<variant> are real Go builds of tests/fixtures/go (tests/fixtures/build.py); without a Go
toolchain the vectors that use them are skipped with the reason. go-signed:<variant> is that build signed
with the test certificate by osslsigncode, go-tampered:<variant> the same changed after signing.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import functools
import hashlib
import http.server
import importlib.util
import io
import ipaddress
import json
import os
import re
import ssl
import struct
import sys
import tempfile
import threading
import time
import typing as t
import urllib.parse
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleConnectionFailure
from ansible.module_utils.common.text.converters import to_text
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import connection_loader

from ansible_collections.gowin.server.plugins.plugin_utils import _channel, _winsvc
from ansible_collections.gowin.server.plugins.plugin_utils._winsim import ERROR_KINDS, OPS, WinSimHost

HERE = Path(__file__).resolve().parent
_build_spec = importlib.util.spec_from_file_location("gowin_fixture_build", HERE.parent / "fixtures" / "build.py")
fixture_build = importlib.util.module_from_spec(_build_spec)
_build_spec.loader.exec_module(fixture_build)
# The Go builds the vectors use (go:<variant>); the reason they are missing, if they are.
GO_FIXTURES = ("svcnative-amd64", "svcnative-arm64", "consolehttp-amd64", "svcnative-hang-amd64", "svcnative-exit-amd64",
               "svcnative-healthy-amd64", "svcnative-unhealthy-amd64", "svcnative-crash-amd64", "cli-amd64",
               "wrapper-shawl-amd64", "wrapper-winsw-amd64", "consolehttp-healthy-amd64")
SIGNED_FIXTURES = ("svcnative-amd64",)
VECTOR_DIR = HERE / "vectors"
PROTOCOL_DOC = HERE.parent.parent / "docs" / "agent-protocol.md"
# The op families the agent ships (plugins/plugin_utils/_agent/<family>.ps1): one vector file each.
FAMILIES = tuple(sorted(_channel.load_agent_files().families))
VECTOR_KEYS = frozenset({
    "name", "winsim_only", "reason", "profile", "arch", "setup", "shares", "locks", "readonly", "accounts", "faults",
    "op", "args", "batch", "expect", "then", "state_unchanged", "cleanup",
})
AUTH_USER = "gowin"
AUTH_PASSWORD = "Tr0ub4dor-contract"
SIM_HOST = "contract"


# ---------------------------------------------------------------------------------------------
# vectors


@dataclass(frozen=True)
class Vector:
    family: str
    index: int
    spec: dict = field(hash=False, compare=False)

    @property
    def name(self) -> str:
        return self.spec["name"]

    @property
    def id(self) -> str:
        return "%s: %s" % (self.family, self.name)

    @property
    def winsim_only(self) -> bool:
        return bool(self.spec.get("winsim_only"))

    @property
    def ops(self) -> list[dict]:
        if "batch" in self.spec:
            return [{"op": o["op"], "args": o.get("args") or {}} for o in self.spec["batch"]]
        return [{"op": self.spec["op"], "args": self.spec.get("args") or {}}]

    @property
    def expectations(self) -> list[dict]:
        return list(self.spec["expect"]) if "batch" in self.spec else [self.spec["expect"]]

    @property
    def uses_http(self) -> bool:
        return bool(re.search(r"\{(https?|url:|zip:)", json.dumps(self.spec)))


def load_vectors() -> list[Vector]:
    vectors = []
    for family in FAMILIES:
        path = VECTOR_DIR / ("%s.yml" % family)
        if not path.exists():
            continue
        for index, spec in enumerate(yaml.safe_load(path.read_text(encoding="utf-8")) or []):
            vectors.append(Vector(family, index, spec))
    return vectors


VECTORS = load_vectors()


# ---------------------------------------------------------------------------------------------
# fixtures served to the host


def fixture_bytes(pe_image: t.Callable[[str], bytes], zip_bytes: t.Callable[[dict], bytes]) -> dict[str, bytes]:
    """Files the vectors name as FIXTURE (put onto the host, served over HTTP, placed on shares)."""
    small = zip_bytes({"a/one.txt": b"one\n", "a/b/two.txt": b"two two\n", "empty/": None})
    fixtures = {
        "text:hello": b"hello world\n",
        "text:other": b"something else\n",
        "text:bom": b"\xef\xbb\xbfline one\r\nline two\n",
        "text:go-version": b"go1.22.5\ntime 2024-06-27T20:11:12Z\n",
        "pe:amd64": pe_image("amd64"),
        "pe:arm64": pe_image("arm64"),
        "pe:386": pe_image("386"),
        "pe:unknown": pe_image("unknown"),
        "pe:mz-only": b"MZ" + b"\0" * 0x3A + b"\x80\0\0\0" + b"\0" * 0x100,
        "zip:small": small,
        "zip:gotree": zip_bytes({
            "go/VERSION": b"go1.22.5\ntime 2024-06-27T20:11:12Z\n",
            "go/bin/go.exe": pe_image("amd64"),
            "go/bin/gofmt.exe": pe_image("amd64"),
        }),
        "zip:gotree-extra": zip_bytes({"go/VERSION": b"go1.22.5\n", "go/bin/go.exe": pe_image("amd64"), "README.txt": b"not go\n"}),
        "zip:gotree-dirs": zip_bytes({"go/": None, "Go/bin/": None, "go/bin/go.exe": pe_image("amd64")}),
        "zip:bad": b"this is not a zip archive\n",
        "zip:truncated": small[: len(small) // 2],
        "zip:slip": zip_bytes({"ok.txt": b"ok\n", "../evil.txt": b"evil\n"}),
        "zip:reserved": zip_bytes({"dir/CON.txt": b"x\n"}),
        "zip:deep": zip_bytes({"%s/%s/%s.txt" % ("d" * 100, "e" * 100, "f" * 60): b"deep\n"}),
        "zip:case": zip_bytes({"Dir/a.txt": b"a\n", "dir/b.txt": b"b\n"}),
        "zip:conflict": zip_bytes({"one.txt": b"from the zip\n", "two.txt": b"two\n"}),
        "zip:fill": zip_bytes({"a/first.txt": b"f" * 1000, "b/big.bin": b"\0" * 1_000_000}),
        "zip:corrupt-second": _corrupt_entry(zip_bytes({"first.txt": b"first\n", "second.txt": b"second " * 200}), "second.txt"),
        # A name with the UTF-8 flag (bit 11, set by zipfile for a non-ASCII name) and one without it
        # whose byte 0x81 is u-umlaut in CP437 (the zip specification's encoding for unflagged names).
        "zip:names": _patch_entry(zip_bytes({"names/utf8-\u00e9.txt": b"utf8\n", "names/cp437-X.txt": b"cp437\n"}),
                                  "names/cp437-X.txt", raw_name=b"names/cp437-\x81.txt"),
        "zip:nul-name": _patch_entry(zip_bytes({"ok.txt": b"ok\n", "dir/a_b.txt": b"x\n"}), "dir/a_b.txt", raw_name=b"dir/a\x00b.txt"),
        "zip:bad-crc": _patch_entry(zip_bytes({"a/first.txt": b"first\n", "a/b/bad.txt": b"bad data\n"}), "a/b/bad.txt",
                                    crc=zlib.crc32(b"bad data\n") ^ 0xFFFFFFFF),
        # Folders two deep, then a file where a test puts a folder: the plan looks at each folder once.
        "zip:levels": zip_bytes({"a/b/c.txt": b"c\n", "a/b/d.txt": b"d\n", "a/x": b"x\n"}),
        "zip:size-short": _patch_entry(zip_bytes({"first.txt": b"first\n", "short.txt": b"short data\n"}), "short.txt", size=16),
        "zip:size-long": _patch_entry(zip_bytes({"first.txt": b"first\n", "long.txt": b"long data here\n"}), "long.txt", size=10),
        "bin:chunky": CHUNKY,
        "zip:chunky": zip_bytes({"big.bin": CHUNKY, "empty.txt": b"", "small.txt": b"small\n"}),
    }
    fixtures.update(go_fixtures())
    return fixtures


GO_MISSING: list[str] = []


def go_fixtures() -> dict[str, bytes]:
    """go:<variant> -> the bytes of that real Go build; none (and GO_MISSING says why) without Go."""
    try:
        go = fixture_build.go_binary()
        found = {"go:" + name: Path(fixture_build.build(name, go)).read_bytes() for name in GO_FIXTURES}
    except fixture_build.GoMissing as e:
        GO_MISSING.append(str(e))
        return {}
    try:  # go-signed:<variant> signed by the test certificate, go-tampered:<variant> changed after signing
        for name in SIGNED_FIXTURES:
            found["go-signed:" + name] = Path(fixture_build.signed(name, go)).read_bytes()
            found["go-tampered:" + name] = Path(fixture_build.signed(name, go, tampered=True)).read_bytes()
    except fixture_build.SignMissing as e:
        GO_MISSING.append(str(e))
    return found


# 2.5 MiB that deflate cannot shrink: more than one of the agent's (and winsim's) 1 MiB copy buffers.
CHUNKY = b"".join(hashlib.sha256(i.to_bytes(4, "little")).digest() for i in range(81920))


def _patch_entry(archive: bytes, name: str, raw_name: bytes | None = None, crc: int | None = None, size: int | None = None) -> bytes:
    """Rewrite fields of one entry in its local header and its central directory record: the name's
    raw bytes (as many as before; the UTF-8 flag, bit 11, is cleared), the CRC-32, the uncompressed
    size. zipfile writes neither an unflagged non-ASCII name nor a name with a NUL, nor wrong values."""
    parsed = zipfile.ZipFile(io.BytesIO(archive))
    info = parsed.getinfo(name)
    encoded = info.filename.encode("utf-8")
    assert raw_name is None or len(raw_name) == len(encoded), "a raw name must be as long as the one it replaces"
    data = bytearray(archive)
    # (offset of the record, offset of flags, crc, uncompressed size, name in it)
    records = [(info.header_offset, 6, 14, 22, 30)]
    at = parsed.start_dir
    while data[at:at + 4] == b"PK\x01\x02":
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, at + 28)
        if bytes(data[at + 46:at + 46 + name_len]) == encoded:
            records.append((at, 8, 16, 24, 46))
        at += 46 + name_len + extra_len + comment_len
    assert len(records) == 2, "no central directory record for %s" % name
    for start, flags, crc_at, size_at, name_at in records:
        assert bytes(data[start + name_at:start + name_at + len(encoded)]) == encoded
        if raw_name is not None:
            data[start + name_at:start + name_at + len(encoded)] = raw_name
            struct.pack_into("<H", data, start + flags, struct.unpack_from("<H", data, start + flags)[0] & ~0x800)
        if crc is not None:
            struct.pack_into("<I", data, start + crc_at, crc)
        if size is not None:
            struct.pack_into("<I", data, start + size_at, size)
    return bytes(data)


def _corrupt_entry(archive: bytes, name: str) -> bytes:
    """Flip a byte in the middle of one entry's compressed data: the entries before it still read."""
    info = zipfile.ZipFile(io.BytesIO(archive)).getinfo(name)
    data_start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    corrupted = bytearray(archive)
    corrupted[data_start + info.compress_size // 2] ^= 0xFF
    return bytes(corrupted)


@dataclass
class Env:
    """What the runner provides to every vector: fixture files and the base URLs serving them."""

    fixtures: dict[str, bytes]
    urls: dict[str, str]


class _FixtureServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fixtures: dict[str, bytes] = {}

    def handle_error(self, request: t.Any, client_address: t.Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # a client that timed out on purpose
            return
        super().handle_error(request, client_address)


class _FixtureHandler(http.server.BaseHTTPRequestHandler):
    """/f/NAME, /auth/NAME (basic auth), /redirect/NAME, /status/CODE, /short, /slow."""

    server: _FixtureServer

    def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002  (quiet)
        return

    def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None, length: int | None = None) -> None:
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802  (http.server's name)
        route, _sep, rest = self.path.lstrip("/").partition("/")
        name = urllib.parse.unquote(rest)
        fixtures = self.server.fixtures
        if route == "f" and name in fixtures:
            self._send(200, fixtures[name], {"Content-Type": "application/octet-stream"})
        elif route == "auth" and name in fixtures:
            expected = "Basic " + base64.b64encode(("%s:%s" % (AUTH_USER, AUTH_PASSWORD)).encode()).decode()
            if self.headers.get("Authorization") == expected:
                self._send(200, fixtures[name])
            else:
                self._send(401, b"unauthorized\n", {"WWW-Authenticate": 'Basic realm="gowin"'})
        elif route == "redirect" and name in fixtures:
            self._send(302, b"", {"Location": "/f/" + rest})
        elif route == "status" and rest.isdigit():
            self._send(int(rest), b"status %s\n" % rest.encode())
        elif route == "short":
            self._send(200, b"0123456789", length=1000)
            self.close_connection = True
        elif route == "slow":
            time.sleep(2.5)
            self._send(200, fixtures["text:hello"])
        elif route in REDIRECT_ROUTES:
            redirect_route(self, route, rest, name)
        else:
            self._send(404, b"not found\n")


def _self_signed(tmp: Path, address: str) -> tuple[str, str] | None:
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        return None
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gowin contract test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.fixture(scope="session")
def env(tmp_path_factory: pytest.TempPathFactory, win_files: t.Any) -> t.Iterator[Env]:
    """The fixtures, and loopback (or GOWIN_TEST_HTTP_ADDR) HTTP and HTTPS servers of them."""
    address = os.environ.get("GOWIN_TEST_HTTP_ADDR", "127.0.0.1")
    fixtures = fixture_bytes(win_files.pe_image, win_files.zip_bytes)
    started: list[_FixtureServer] = []
    urls: dict[str, str] = {}
    with pytest.MonkeyPatch.context() as patch:
        # The model downloads with urllib, which honours proxy variables: never send fixtures through one.
        patch.setenv("NO_PROXY", address)
        patch.setenv("no_proxy", address)
        for scheme in ("http", "https"):
            server = _FixtureServer((address, 0), _FixtureHandler)
            server.fixtures = fixtures
            if scheme == "https":
                pair = _self_signed(tmp_path_factory.mktemp("tls"), address)
                if pair is None:
                    server.server_close()
                    continue
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(*pair)
                server.socket = context.wrap_socket(server.socket, server_side=True)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            started.append(server)
            urls[scheme] = "%s://%s:%d" % (scheme, address, server.server_address[1])
        start_other_origin(address, started, urls)
        yield Env(fixtures, urls)
    for server in started:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------------------------
# the agent the channel ships


@pytest.fixture(scope="session")
def agent_path() -> str:
    """The shipped agent folder (core.ps1 + one file per op family): the channel assembles what it
    sends from it, and winsim accepts only that assembly."""
    assert os.path.isfile(os.path.join(_channel.AGENT_DIR, _channel.CORE_FILE)), "%s is missing" % _channel.AGENT_DIR
    return _channel.AGENT_DIR


def copy_agent(where: Path, family: str | None = None, line: str | None = None) -> str:
    """A copy of the agent folder; with `family` and `line`, that line appended to the family's file."""
    folder = where / "agent-copy"
    folder.mkdir()
    for entry in os.listdir(_channel.AGENT_DIR):
        if entry.endswith(".ps1"):
            text = Path(_channel.AGENT_DIR, entry).read_text(encoding="utf-8")
            if family is not None and entry == family + ".ps1":
                text = text.rstrip("\n") + "\n" + str(line) + "\n"
            (folder / entry).write_text(text, encoding="utf-8")
    return str(folder)


# ---------------------------------------------------------------------------------------------
# targets


class ChannelAction:
    """Stands in for an action plugin: the channel calls _low_level_execute_command as ActionBase has it."""

    def __init__(self, execute: t.Callable[[str, bytes | None, bool], tuple[int, bytes, bytes]]) -> None:
        self._execute = execute
        self.calls = 0

    def _low_level_execute_command(
        self, cmd: str, sudoable: bool = True, in_data: bytes | None = None, executable: str | None = None,
        encoding_errors: str = "surrogate_then_replace", chdir: str | None = None,
    ) -> dict[str, t.Any]:
        self.calls += 1
        rc, stdout, stderr = self._execute(cmd, in_data, sudoable)
        out, err = to_text(stdout, errors=encoding_errors), to_text(stderr, errors=encoding_errors)
        return {"rc": rc, "stdout": out, "stdout_lines": out.splitlines(), "stderr": err, "stderr_lines": err.splitlines()}


def make_connection(state_dir: str | Path, host: str = SIM_HOST, **options: t.Any) -> t.Any:
    """The winsim connection plugin as Ansible loads it (by FQCN), with options set directly."""
    connection = connection_loader.get("gowin.server.winsim", PlayContext(), None)
    assert connection is not None, "connection plugin gowin.server.winsim not found"
    connection.set_options(direct=dict({"host": host, "state_dir": str(state_dir)}, **options))
    return connection


class Target:
    """Where vectors run: the scratch names, ops over the channel, and file uploads."""

    real_host = False

    def __init__(self, channel: _channel.Channel, scratch: str) -> None:
        self.channel = channel
        self.scratch = scratch
        self._facts: dict | None = None

    @property
    def root(self) -> str:
        return "C:\\gowin-contract\\" + self.scratch

    @property
    def reg(self) -> str:
        return "HKLM\\SOFTWARE\\GoWinContract\\" + self.scratch

    # The event sources a vector may register ({source:a} .. {source:c}), removed after it on a real host.
    EVENT_SOURCE_TAGS = ("a", "b", "c")

    def event_source(self, tag: str) -> str:
        if tag not in self.EVENT_SOURCE_TAGS:
            raise KeyError("unknown placeholder {source:%s} (a, b or c)" % tag)
        return "gowin-contract-%s-%s" % (self.scratch, tag)

    # The services a vector may register ({service:a} .. {service:c}), stopped and removed after it on a real host.
    SERVICE_TAGS = ("a", "b", "c")

    def service(self, tag: str) -> str:
        if tag not in self.SERVICE_TAGS:
            raise KeyError("unknown placeholder {service:%s} (a, b or c)" % tag)
        return "gowin-contract-%s-svc-%s" % (self.scratch, tag)

    # The firewall rules a vector may create ({rule:a} .. {rule:c}), removed after it on a real host.
    RULE_TAGS = ("a", "b", "c")

    def rule(self, tag: str) -> str:
        if tag not in self.RULE_TAGS:
            raise KeyError("unknown placeholder {rule:%s} (a, b or c)" % tag)
        return "gowin-contract-%s-fw-%s" % (self.scratch, tag)

    # The scheduled tasks a vector may register ({task:a} .. {task:c}), removed after it on a real host.
    TASK_TAGS = ("a", "b", "c")

    def task(self, tag: str) -> str:
        if tag not in self.TASK_TAGS:
            raise KeyError("unknown placeholder {task:%s} (a, b or c)" % tag)
        return "\\GoWinContract\\%s-%s" % (self.scratch, tag)

    def run(self, ops: list[dict]) -> list[dict]:
        return self.channel.run(ops)

    def facts(self) -> dict:
        if self._facts is None:
            (result,) = self.run([{"op": "host.facts", "args": {}}])
            assert result["ok"], result
            self._facts = result["data"]
        return self._facts

    def put(self, path: str, data: bytes) -> None:
        raise NotImplementedError

    def cleanup(self) -> None:
        """Remove the scratch folder and key (only a real host keeps anything between vectors)."""


class WinsimTarget(Target):
    def __init__(self, state_dir: Path, agent: str, scratch: str, profile: str = "ws2022", arch: str = "amd64") -> None:
        self.connection = make_connection(state_dir, os_profile=profile, arch=arch)
        self.action = ChannelAction(self.connection.exec_command)
        super().__init__(_channel.Channel(self.action, agent), scratch)
        self.tmp = state_dir

    @property
    def sim(self) -> WinSimHost:
        return self.connection.sim

    def put(self, path: str, data: bytes) -> None:
        local = self.tmp / "upload.bin"
        local.write_bytes(data)
        self.connection.put_file(str(local), path)


class RealHostTarget(Target):
    real_host = True

    def __init__(self, agent: str, scratch: str) -> None:
        from pypsrp.client import Client

        use_ssl = os.environ.get("GOWIN_TEST_SSL", "true").lower() not in ("0", "false", "no")
        auth = os.environ.get("GOWIN_TEST_AUTH", "negotiate")
        self.client = Client(
            os.environ["GOWIN_TEST_HOST"],
            username=os.environ["GOWIN_TEST_USER"],
            password=os.environ["GOWIN_TEST_PASSWORD"],
            port=int(os.environ.get("GOWIN_TEST_PORT") or (5986 if use_ssl else 5985)),
            ssl=use_ssl,
            cert_validation=False,
            auth=auth,
            # Basic auth cannot encrypt messages itself: over plain HTTP it needs encryption off.
            encryption="never" if auth == "basic" and not use_ssl else "auto",
        )
        self.action = ChannelAction(self._execute)
        super().__init__(_channel.Channel(self.action, agent), scratch)

    def _execute(self, cmd: str, in_data: bytes | None, sudoable: bool) -> tuple[int, bytes, bytes]:
        """What ansible's winrm connection does: run the command line, the payload on stdin."""
        from pypsrp.shell import Process, WinRS

        with WinRS(self.client.wsman) as shell:
            process = Process(shell, cmd)
            process.begin_invoke()
            process.send(in_data or b"", end=True)
            process.end_invoke()
        return process.rc if process.rc is not None else -1, process.stdout, process.stderr

    def put(self, path: str, data: bytes) -> None:
        with tempfile.NamedTemporaryFile(delete=False) as handle:
            handle.write(data)
        try:
            parent = path.rsplit("\\", 1)[0]
            (result,) = self.run([{"op": "dir.ensure", "args": {"path": parent}}])
            assert result["ok"], result
            self.client.copy(handle.name, path)
        finally:
            os.unlink(handle.name)

    # Ops that put back the audit policy and security policy a vector changes (see remember_policy).
    restore_ops: list[dict] = []

    def remember_policy(self, vector: Vector, env: Env) -> None:
        """Read, before the vector runs, the audit subcategories and security policy settings its
        auditpol.set and policy.configure ops name, so cleanup puts back what this host had."""
        steps = expand([s for s in vector.spec.get("setup") or [] if "op" in s] + vector.ops + list(vector.spec.get("then") or []), self, env)
        guids: set[str] = set()
        access: set[str] = set()
        rights: set[str] = set()
        for step in steps:
            args = step.get("args") or {}
            if step["op"] == "auditpol.set" and isinstance(args.get("subcategories"), list):
                guids |= {str(e.get("guid", "")).upper() for e in args["subcategories"] if isinstance(e, dict)}
            elif step["op"] == "policy.configure":
                access |= set(args.get("system_access") or {}) if isinstance(args.get("system_access"), dict) else set()
                rights |= set(args.get("privilege_rights") or {}) if isinstance(args.get("privilege_rights"), dict) else set()
        self.restore_ops = []
        if guids:
            (result,) = self.run([{"op": "auditpol.get", "args": {}}])
            assert result["ok"], result
            had = [{"guid": e["guid"], "success": e["success"], "failure": e["failure"]}
                   for e in result["data"]["subcategories"] if e["guid"] in guids]
            if had:
                self.restore_ops.append({"op": "auditpol.set", "args": {"subcategories": had}})
        if access or rights:
            (result,) = self.run([{"op": "policy.export", "args": {}}])
            assert result["ok"], result
            data = result["data"]
            values = {k: data["system_access"][k] for k in sorted(access) if isinstance(data["system_access"].get(k), int)}
            holders = {r: data["privilege_rights"].get(r, []) for r in sorted(rights)
                       if all(re.fullmatch(r"S-1-\d+(-\d+)+", h) for h in data["privilege_rights"].get(r, []))}
            args = {k: v for k, v in (("system_access", values), ("privilege_rights", holders)) if v}
            if args:
                self.restore_ops.append({"op": "policy.configure", "args": args})

    def cleanup(self) -> None:
        for op in self.restore_ops:  # the audit and security policy as they were before the vector
            self.run([op])
        for tag in reversed(self.SERVICE_TAGS):  # dependents (b) before what they need (a); one round trip each: a batch stops at its first failure
            name = self.service(tag)
            self.run([{"op": "service.stop", "args": {"name": name, "timeout_s": 10}}])
            self.run([{"op": "service.remove", "args": {"name": name}}])
            self.run([{"op": "policy.user_right", "args": {"right": "SeServiceLogonRight", "sid": _winsvc.service_sid(name), "grant": False}}])
            self.run([{"op": "registry.remove", "args": {"path": "HKLM\\SOFTWARE\\GoWin\\Journal\\" + name}}])  # deploy.update's journal
        self.run([{"op": "path.remove", "args": {"path": self.root}}, {"op": "registry.remove", "args": {"path": self.reg}}]
                 + [{"op": "eventlog.remove", "args": {"source": self.event_source(tag)}} for tag in self.EVENT_SOURCE_TAGS]
                 + [{"op": "firewall.remove", "args": {"name": self.rule(tag)}} for tag in self.RULE_TAGS]
                 + [{"op": "task.remove", "args": {"path": self.task(tag)}} for tag in self.TASK_TAGS])


class RealHostPsrpTarget(RealHostTarget):
    """The same host, reached the way ansible-core's psrp connection runs the channel's command: the
    -EncodedCommand script is decoded and run inside an open runspace (PowerShell.add_script, local
    scope), the payload goes in as input lines, stdout is the pipeline output joined with CRLF and rc
    is the host's exit code (set by `exit`) or 1 when the pipeline had errors. Nothing written to the
    console of the runspace's process reaches the controller this way."""

    def __init__(self, agent: str, scratch: str) -> None:
        super().__init__(agent, scratch)
        from pypsrp.host import PSHost, PSHostUserInterface
        from pypsrp.powershell import RunspacePool

        self.psrp_host = PSHost(None, None, False, "gowin contract PSRP host", None, PSHostUserInterface(), None)
        self.pool = RunspacePool(self.client.wsman, host=self.psrp_host)
        self.pool.open()

    def _execute(self, cmd: str, in_data: bytes | None, sudoable: bool) -> tuple[int, bytes, bytes]:
        from pypsrp.powershell import PowerShell

        assert cmd.startswith(_channel.POWERSHELL_PREFIX)
        script = base64.b64decode(cmd.split(" ")[-1]).decode("utf-16-le")
        self.psrp_host.rc = 0
        ps = PowerShell(self.pool)
        ps.add_script(script, use_local_scope=True)
        ps.invoke(input=(in_data or b"").decode("utf-8").splitlines() or None)
        stdout = "\r\n".join(str(o) for o in ps.output)
        stderr = "\r\n".join(str(e) for e in ps.streams.error)
        rc = self.psrp_host.rc or (1 if ps.had_errors else 0)
        return rc, stdout.encode("utf-8"), stderr.encode("utf-8")

    def cleanup(self) -> None:
        try:
            super().cleanup()
        finally:
            with contextlib.suppress(Exception):
                self.pool.close()


REAL_HOST_MODES = {"winrs": RealHostTarget, "psrp": RealHostPsrpTarget}


# ---------------------------------------------------------------------------------------------
# placeholders and matching

_PLACEHOLDER = re.compile(r"\{([a-z_0-9]+)(?::([^{}]+))?\}")


def expand(value: t.Any, target: Target, env: Env) -> t.Any:
    if isinstance(value, dict):
        return {expand(k, target, env): expand(v, target, env) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, target, env) for v in value]
    if not isinstance(value, str):
        return value
    whole = _PLACEHOLDER.fullmatch(value)
    if whole and whole.group(1) == "size":
        return len(env.fixtures[str(whole.group(2))])
    return _PLACEHOLDER.sub(lambda m: _placeholder(m.group(1), m.group(2), target, env), value)


def _placeholder(name: str, arg: str | None, target: Target, env: Env) -> str:
    if name in ("http", "https"):
        if name not in env.urls:
            pytest.skip("no %s fixture server (the cryptography package is needed for TLS)" % name)
        return env.urls[name]
    if name in ("url", "zip"):
        fixture = arg if name == "url" else "zip:" + str(arg)
        if fixture not in env.fixtures:
            raise KeyError("unknown fixture %r" % fixture)
        return env.urls["http"] + "/f/" + urllib.parse.quote(fixture)
    if name == "sha256":
        return hashlib.sha256(env.fixtures[str(arg)]).hexdigest()
    if name == "x":
        return "x" * int(str(arg))
    if name == "char":
        return chr(int(str(arg), 16))
    if name in ("source", "source_upper"):
        source = target.event_source(str(arg))
        return source.upper() if name == "source_upper" else source
    if name == "rule":
        return target.rule(str(arg))
    if name in ("task", "task_upper"):
        path = target.task(str(arg))
        return path.upper() if name == "task_upper" else path
    if name in ("service", "service_upper", "service_sid"):
        service = target.service(str(arg))
        return {"service": service, "service_upper": service.upper(), "service_sid": _winsvc.service_sid(service)}[name]
    simple = {
        "root": lambda: target.root,
        "reg": lambda: target.reg,
        "user_sid": lambda: target.facts()["user_sid"],
        "user_name": lambda: target.facts()["user_name"],
        "computer_name": lambda: target.facts()["computer_name"],
    }
    if name not in simple or arg is not None:
        raise KeyError("unknown placeholder {%s%s}" % (name, ":" + arg if arg else ""))
    return simple[name]()


_KINDS: dict[str, t.Callable[[t.Any], bool]] = {
    "<any>": lambda v: True,
    "<int>": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "<bool>": lambda v: isinstance(v, bool),
    "<str>": lambda v: isinstance(v, str),
    "<sid>": lambda v: isinstance(v, str) and re.fullmatch(r"S-1-\d+(-\d+)+", v) is not None,
    "<sha256>": lambda v: isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) is not None,
    "<thumbprint>": lambda v: isinstance(v, str) and re.fullmatch(r"[0-9A-F]{40}", v) is not None,
    "<utc>": lambda v: isinstance(v, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", v) is not None,
}


def match(actual: t.Any, expected: t.Any, where: str) -> None:
    """Assert `actual` matches `expected` (see the module docstring for the rules)."""
    if isinstance(expected, str) and expected in _KINDS:
        assert _KINDS[expected](actual), "%s: %r is not %s" % (where, actual, expected)
        return
    if isinstance(expected, dict) and list(expected) == ["<contains>"]:
        assert isinstance(actual, list), "%s: expected a list, got %r" % (where, actual)
        for want in expected["<contains>"]:
            assert want in actual, "%s: %r is not in %r" % (where, want, actual)
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), "%s: expected an object, got %r" % (where, actual)
        for key, want in expected.items():
            if key == "<exact>":
                extra = set(actual) - set(expected) - {"<exact>"}
                assert not extra, "%s: unexpected keys %s in %r" % (where, sorted(extra), actual)
            elif key == "message_contains":
                message = str(actual.get("message", "")).lower()
                for part in [want] if isinstance(want, str) else want:
                    assert str(part).lower() in message, "%s: message %r does not mention %r" % (where, actual.get("message"), part)
            elif want == "<absent>":
                assert key not in actual, "%s: %r should be absent, got %r" % (where, key, actual.get(key))
            else:
                assert key in actual, "%s: %r is missing from %r" % (where, key, actual)
                match(actual[key], want, "%s.%s" % (where, key))
        return
    if isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), "%s: expected %d items, got %r" % (where, len(expected), actual)
        for index, (got, want) in enumerate(zip(actual, expected)):
            match(got, want, "%s[%d]" % (where, index))
        return
    assert type(actual) is type(expected) and actual == expected, "%s: expected %r, got %r" % (where, expected, actual)


def _secrets(ops: list[dict]) -> list[str]:
    found = []
    for op in ops:
        args = op.get("args") if isinstance(op.get("args"), dict) else {}
        if args.get("password"):
            found.append(str(args["password"]))
        if isinstance(args.get("secret_environment"), dict):
            found += [str(v) for v in args["secret_environment"].values() if v]
    return found


# ---------------------------------------------------------------------------------------------
# running a vector


def _setup(target: Target, vector: Vector, env: Env) -> None:
    for step in expand(vector.spec.get("setup") or [], target, env):
        if "put" in step:
            if "fixture" in step and step["fixture"] not in env.fixtures and step["fixture"].startswith(("go:", "go-signed:", "go-tampered:")):
                pytest.skip("the vector needs the Go build %s: %s" % (step["fixture"], "; ".join(GO_MISSING) or "not built"))
            data = step["text"].encode("utf-8") if "text" in step else env.fixtures[step["fixture"]]
            target.put(step["put"], data)
            continue
        (result,) = target.run([{"op": step["op"], "args": step.get("args") or {}}])
        assert result["ok"], "setup step %s failed: %r" % (step["op"], result)
    if isinstance(target, WinsimTarget):
        sim = target.sim
        for unc, fixture in (vector.spec.get("shares") or {}).items():
            parts = [p for p in unc.split("\\") if p]
            local = Path(sim.shares_root, *parts)
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(env.fixtures[fixture])
        for name, sid in (vector.spec.get("accounts") or {}).items():
            sim.add_account(name, sid)
        for path in expand(vector.spec.get("locks") or [], target, env):
            sim.lock(path)
        for path in expand(vector.spec.get("readonly") or [], target, env):
            sim.set_readonly(path)
        for fault in expand(vector.spec.get("faults") or [], target, env):
            sim.add_fault(fault)


def run_vector(target: Target, vector: Vector, env: Env) -> None:
    try:
        _run_vector(target, vector, env)
    except BaseException:
        with contextlib.suppress(Exception):  # the vector's own failure is the one to report
            _cleanup(target, vector, env)
        raise
    _cleanup(target, vector, env)


def _cleanup(target: Target, vector: Vector, env: Env) -> None:
    """The vector's cleanup steps: every one runs; then each must have succeeded."""
    results = [(step["op"], target.run([{"op": step["op"], "args": step.get("args") or {}}]))
               for step in expand(vector.spec.get("cleanup") or [], target, env)]
    for op, (result,) in results:
        assert result["ok"], "cleanup step %s failed: %r" % (op, result)


def _run_vector(target: Target, vector: Vector, env: Env) -> None:
    _setup(target, vector, env)
    check_unchanged = vector.spec.get("state_unchanged") and isinstance(target, WinsimTarget)
    before = target.sim.snapshot() if check_unchanged else None
    ops = expand(vector.ops, target, env)
    expectations = expand(vector.expectations, target, env)
    if expectations == [{"connection_failure": True}]:
        with pytest.raises(AnsibleConnectionFailure):
            target.run(ops)
    else:
        results = target.run(ops)
        assert len(results) == len(expectations), "expected %d results, got %r" % (len(expectations), results)
        for index, (result, expected) in enumerate(zip(results, expectations)):
            match(result, expected, "result[%d] (%s)" % (index, ops[index]["op"]))
        text = json.dumps(results)
        for secret in _secrets(ops):
            assert secret not in text, "a password appears in the results"
    if check_unchanged:
        assert target.sim.snapshot() == before, "the host's state changed"
    for check in expand(vector.spec.get("then") or [], target, env):
        (result,) = target.run([{"op": check["op"], "args": check.get("args") or {}}])
        match(result, check["expect"], "then %s %s" % (check["op"], json.dumps(check.get("args"))))


@pytest.mark.parametrize("vector", VECTORS, ids=[v.id for v in VECTORS])
def test_vector_winsim(vector: Vector, tmp_path: Path, agent_path: str, env: Env) -> None:
    target = WinsimTarget(
        tmp_path, agent_path, str(vector.index), vector.spec.get("profile", "ws2022"), vector.spec.get("arch", "amd64")
    )
    run_vector(target, vector, env)


REAL_VECTORS = [v for v in VECTORS if not v.winsim_only]


@pytest.fixture(scope="session")
def real_host_run(agent_path: str) -> t.Iterator[str]:
    """A name for this run's scratch folders; at the end the contract's scratch parents are removed."""
    yield "%d-%d" % (os.getpid(), int(time.time()))
    if os.environ.get("GOWIN_TEST_HOST"):
        RealHostTarget(agent_path, "").run([
            {"op": "path.remove", "args": {"path": "C:\\gowin-contract"}},
            {"op": "registry.remove", "args": {"path": "HKLM\\SOFTWARE\\GoWinContract"}},
        ])


@pytest.mark.parametrize("mode", sorted(REAL_HOST_MODES))
@pytest.mark.parametrize("vector", REAL_VECTORS, ids=[v.id for v in REAL_VECTORS])
def test_vector_real_host(vector: Vector, mode: str, agent_path: str, env: Env, real_host_run: str) -> None:
    """Each vector twice on a real host: through powershell.exe, as the winrm and ssh connections run
    the command (stdin is the payload, stdout is what the process prints), and inside a runspace, as
    the psrp connection runs it (only pipeline output comes back)."""
    missing = [n for n in ("GOWIN_TEST_HOST", "GOWIN_TEST_USER", "GOWIN_TEST_PASSWORD") if not os.environ.get(n)]
    if missing:
        pytest.skip("no real Windows host: set %s to run the contract against one" % ", ".join(missing))
    if vector.uses_http and "GOWIN_TEST_HTTP_ADDR" not in os.environ:
        pytest.skip("set GOWIN_TEST_HTTP_ADDR to an address of this machine the host can reach to run download vectors")
    target = REAL_HOST_MODES[mode](agent_path, "%s-%d-%s-%s" % (real_host_run, vector.index, vector.family, mode))
    with _host_wide(vector):
        try:
            target.remember_policy(vector, env)
            run_vector(target, vector, env)
        except BaseException:
            with contextlib.suppress(Exception):  # the vector's own failure is the one to report
                target.cleanup()
            raise
        target.cleanup()


@contextlib.contextmanager
def _host_wide(vector: Vector) -> t.Iterator[None]:
    """A vector with cleanup steps changes something the whole host shares (a feature, a firewall profile):
    one such vector at a time, across the pytest-xdist workers of this machine (the two modes of one vector
    would otherwise toggle the same setting at once)."""
    if not vector.spec.get("cleanup"):
        yield
        return
    import fcntl

    with open(os.path.join(tempfile.gettempdir(), "gowin-contract-host-wide.lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------
# the vectors themselves


@functools.lru_cache(maxsize=None)
def documented_ops() -> tuple[str, ...]:
    return tuple(re.findall(r"^### ([a-z]+\.[a-z_]+)\s*$", PROTOCOL_DOC.read_text(encoding="utf-8"), re.M))


def test_every_family_has_a_vector_file() -> None:
    assert sorted(p.stem for p in VECTOR_DIR.glob("*.yml")) == sorted(FAMILIES)


def test_winsim_implements_exactly_the_documented_ops() -> None:
    assert documented_ops(), "no '### family.verb' headings found in %s" % PROTOCOL_DOC
    assert sorted(OPS) == sorted(documented_ops())


@pytest.mark.parametrize("op", documented_ops())
def test_every_op_has_success_and_failure_vectors(op: str) -> None:
    outcomes = set()
    for vector in VECTORS:
        for spec, expected in zip(vector.ops, vector.expectations):
            if spec["op"] == op and "ok" in expected:
                missing = expected.get("data", {}).get("exists") is False
                outcomes.add("missing" if missing else expected["ok"])
    assert True in outcomes, "no vector shows %s succeeding" % op
    assert False in outcomes or "missing" in outcomes, "no vector shows %s failing or finding nothing" % op


@pytest.mark.parametrize("vector", VECTORS, ids=[v.id for v in VECTORS])
def test_vector_is_well_formed(vector: Vector) -> None:
    spec = vector.spec
    assert not set(spec) - VECTOR_KEYS, "unknown keys %s" % sorted(set(spec) - VECTOR_KEYS)
    assert isinstance(spec.get("name"), str) and spec["name"]
    assert ("op" in spec) != ("batch" in spec), "a vector has either op or batch"
    assert "expect" in spec
    if "batch" in spec:
        assert isinstance(spec["expect"], list) and 0 < len(spec["expect"]) <= len(spec["batch"])
    winsim_state = {"faults", "locks", "readonly", "shares", "accounts", "profile", "arch", "state_unchanged"} & set(spec)
    if winsim_state - {"state_unchanged"}:
        assert vector.winsim_only, "vectors using %s are winsim_only" % sorted(winsim_state)
    if vector.winsim_only:
        assert spec.get("reason"), "say why a vector is winsim_only"
    for op, expected in zip(vector.ops, vector.expectations):
        unknown_on_purpose = expected.get("error", {}).get("kind") == "unsupported"
        assert op["op"] in OPS or unknown_on_purpose, "unknown op %s" % op["op"]
    for op in [s for s in spec.get("setup") or [] if "op" in s] + list(spec.get("then") or []) + list(spec.get("cleanup") or []):
        assert op["op"] in OPS, "unknown op %s" % op["op"]
    for expected in vector.expectations + [c["expect"] for c in spec.get("then") or []]:
        if "error" in expected:
            assert expected["ok"] is False and expected["error"]["kind"] in ERROR_KINDS
    names = [v.name for v in VECTORS if v.family == vector.family]
    assert names.count(vector.name) == 1, "vector names are unique within a family"


# ---------------------------------------------------------------------------------------------
# the connection plugin's side of the channel


@pytest.fixture
def sim_connection(tmp_path: Path, agent_path: str) -> t.Any:
    return make_connection(tmp_path)


def _payload(agent: str, ops: list[dict]) -> bytes:
    text, _hash, _packed = _channel.load_agent_files(agent).for_ops(ops)
    return _channel.build_payload(text, ops)


def test_plugin_identity(sim_connection: t.Any) -> None:
    assert sim_connection.transport == "gowin.server.winsim"
    assert sim_connection.module_implementation_preferences == (".ps1", ".exe", "")
    assert sim_connection.has_pipelining is False
    assert sim_connection.allow_executable is False
    assert sim_connection._shell.SHELL_FAMILY == "powershell"


def test_refuses_anything_but_the_bootstrap(sim_connection: t.Any) -> None:
    rc, stdout, stderr = sim_connection.exec_command("Get-ChildItem C:\\", in_data=None, sudoable=False)
    assert (rc, stdout, stderr) == (1, b"", b"winsim only runs gowin.server modules")
    assert sim_connection.sim.counters()["round_trips"] == 1


def test_answers_one_document_and_counts_bytes(sim_connection: t.Any, agent_path: str) -> None:
    payload = _payload(agent_path, [{"op": "host.facts", "args": {}}, {"op": "dir.list", "args": {"path": "C:\\"}}])
    rc, stdout, stderr = sim_connection.exec_command(_channel.BOOTSTRAP_COMMAND, in_data=payload, sudoable=False)
    document = json.loads(stdout)
    assert rc == 0 and stderr == b""
    assert document["v"] == 1 and document["agent"] == _channel.load_agent_files(agent_path).for_ops([{"op": "host.facts"}, {"op": "dir.list"}])[1]
    assert [r["ok"] for r in document["results"]] == [True, True]
    counters = sim_connection.sim.counters()
    assert counters["round_trips"] == 1
    assert counters["bytes_sent"] == len(_channel.BOOTSTRAP_COMMAND.encode()) + len(payload)
    assert counters["bytes_received"] == len(stdout)
    assert counters["ops"] == {"host.facts": 1, "dir.list": 1}


def test_a_different_agent_gets_a_fatal_answer(sim_connection: t.Any, tmp_path: Path) -> None:
    other = copy_agent(tmp_path, "host", "$tampered = 1")
    rc, stdout, _stderr = sim_connection.exec_command(_channel.BOOTSTRAP_COMMAND, in_data=_payload(other, [{"op": "host.facts"}]))
    assert rc == 1
    fatal = json.loads(stdout)["fatal"]
    assert fatal["kind"] == "protocol" and "agent mismatch" in fatal["message"]
    with pytest.raises(_channel.ChannelError, match="agent mismatch") as caught:
        _channel.Channel(ChannelAction(sim_connection.exec_command), other).run([{"op": "host.facts"}])
    assert caught.value.kind == "protocol"
    assert sim_connection.sim.counters()["ops"] == {}


def test_the_text_sent_is_core_plus_the_families_the_ops_need(sim_connection: t.Any, agent_path: str) -> None:
    files = _channel.load_agent_files(agent_path)
    ops = [{"op": "registry.get", "args": {"path": "HKLM\\SOFTWARE"}}]
    text, digest, _packed = files.for_ops(ops)
    assert files.families_for(ops) == ("registry",)
    assert "function Invoke-OpRegistryGet" in text and "function Invoke-OpFileStat" not in text
    # The whole agent (every family) is refused for a request that needs only one family: winsim
    # checks that the text is exactly the assembly for the request's ops.
    everything = files.assemble(tuple(sorted(files.families)))[0]
    rc, stdout, _stderr = sim_connection.exec_command(_channel.BOOTSTRAP_COMMAND, in_data=_channel.build_payload(everything, ops))
    assert rc == 1 and "agent mismatch" in json.loads(stdout)["fatal"]["message"]
    rc, stdout, _stderr = sim_connection.exec_command(_channel.BOOTSTRAP_COMMAND, in_data=_channel.build_payload(text, ops))
    document = json.loads(stdout)
    assert rc == 0 and document["agent"] == digest and document["results"][0]["ok"] is True


def test_an_op_of_a_family_not_sent_is_unknown_to_winsim(tmp_path: Path) -> None:
    # As in the agent, whose op table holds only the families sent: winsim knows only their ops.
    host = WinSimHost(str(tmp_path), "fam")
    (result,) = host.execute([{"op": "dir.list", "args": {"path": "C:\\"}}], families=("registry",))
    assert result["error"]["kind"] == "unsupported"
    assert result["error"]["message"] == "unknown op 'dir.list'; this agent knows: registry.get, registry.remove, registry.set"
    (result,) = host.execute([{"op": "dir.list", "args": {"path": "C:\\"}}], families=("fs",))
    assert result["ok"] is True


@pytest.mark.parametrize("line", [
    "[Console]::Out.Write('x')",
    "[System.Console]::WriteLine('x')",
    "Write-Host 'x'",
    "'x' | Out-Host",
    "$Host.UI.WriteLine('x')",
])
def test_an_agent_that_writes_to_the_console_is_refused(tmp_path: Path, monkeypatch: t.Any, line: str) -> None:
    # The shipped agent itself is what winsim accepts; one that writes to the console (lost over psrp) is refused.
    other = copy_agent(tmp_path, "host", line)
    monkeypatch.setattr(_channel, "AGENT_DIR", other)
    connection = make_connection(tmp_path)
    rc, stdout, _stderr = connection.exec_command(_channel.BOOTSTRAP_COMMAND, in_data=_payload(other, [{"op": "host.facts"}]))
    fatal = json.loads(stdout)["fatal"]
    assert rc == 1 and fatal["kind"] == "protocol" and "writes to the console" in fatal["message"]
    assert connection.sim.counters()["ops"] == {}


def test_console_writers_ignore_comments() -> None:
    from ansible_collections.gowin.server.plugins.connection.winsim import console_writers
    files = _channel.load_agent_files()
    assert console_writers("# Write-Host in a comment\n$line\n") == []
    assert console_writers(_channel.BOOTSTRAP) == []
    assert console_writers(files.assemble(tuple(sorted(files.families)))[0]) == []


def test_input_without_the_marker_gets_a_fatal_answer(sim_connection: t.Any) -> None:
    rc, stdout, _stderr = sim_connection.exec_command(_channel.BOOTSTRAP_COMMAND, in_data=b"just some text\n")
    assert rc == 1 and json.loads(stdout)["fatal"] == {"kind": "protocol", "message": "gowin bootstrap: no request marker in input"}


def test_a_request_of_another_version_gets_a_fatal_answer(sim_connection: t.Any, agent_path: str) -> None:
    text, _hash, packed = _channel.load_agent_files(agent_path).for_ops([])
    payload = (packed + "\n" + _channel.MARKER + "\n" + json.dumps({"v": 2, "ops": []}) + "\n").encode()
    rc, stdout, _stderr = sim_connection.exec_command(_channel.BOOTSTRAP_COMMAND, in_data=payload)
    assert rc == 1 and json.loads(stdout)["fatal"]["kind"] == "protocol"


def test_latency_is_added_per_round_trip(tmp_path: Path, agent_path: str) -> None:
    channel = _channel.Channel(ChannelAction(make_connection(tmp_path, latency_ms=150).exec_command), agent_path)
    channel.run([{"op": "host.facts"}])  # the first round trip also creates the host
    started = time.monotonic()
    channel.run([{"op": "host.facts"}])
    channel.run([{"op": "host.facts"}])
    assert time.monotonic() - started >= 0.3


def test_drop_connection_runs_the_first_ops_then_fails(sim_connection: t.Any, agent_path: str) -> None:
    sim_connection.sim.add_fault({"fault": "drop_connection", "after_ops": 1})
    channel = _channel.Channel(ChannelAction(sim_connection.exec_command), agent_path)
    with pytest.raises(AnsibleConnectionFailure, match="dropped after 1 op"):
        channel.run([{"op": "dir.ensure", "args": {"path": "C:\\a"}}, {"op": "dir.ensure", "args": {"path": "C:\\b"}}])
    listing = channel.run_checked([{"op": "dir.list", "args": {"path": "C:\\"}}])[0]
    names = [e["name"] for e in listing["entries"]]
    assert "a" in names and "b" not in names
    assert sim_connection.sim.counters()["round_trips"] == 2


def test_put_and_fetch_copy_files_and_count(sim_connection: t.Any, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_bytes(b"payload bytes\n")
    sim_connection.put_file(str(source), "C:\\Drop\\In.txt")
    assert sim_connection.sim.read_file("c:/drop/in.TXT") == b"payload bytes\n"
    fetched = tmp_path / "out.txt"
    sim_connection.fetch_file("C:\\drop\\in.txt", str(fetched))
    assert fetched.read_bytes() == b"payload bytes\n"
    counters = sim_connection.sim.counters()
    assert (counters["round_trips"], counters["puts"], counters["bytes_sent"], counters["bytes_received"]) == (2, 1, 14, 14)


def test_fetch_of_a_missing_file_fails_clearly(sim_connection: t.Any, tmp_path: Path) -> None:
    from ansible.errors import AnsibleFileNotFound

    with pytest.raises(AnsibleFileNotFound, match="does not exist"):
        sim_connection.fetch_file("C:\\nothing.txt", str(tmp_path / "x"))


def test_put_onto_a_locked_file_fails_in_use(sim_connection: t.Any, tmp_path: Path) -> None:
    from ansible.errors import AnsibleError

    source = tmp_path / "in.txt"
    source.write_bytes(b"v1")
    sim_connection.put_file(str(source), "C:\\svc\\app.exe")
    sim_connection.sim.lock("C:\\svc\\app.exe")
    source.write_bytes(b"v2")
    with pytest.raises(AnsibleError, match="in_use"):
        sim_connection.put_file(str(source), "C:\\SVC\\APP.EXE")
    assert sim_connection.sim.read_file("C:\\svc\\app.exe") == b"v1"


def test_a_host_is_kept_to_the_profile_it_was_created_with(tmp_path: Path) -> None:
    make_connection(tmp_path, os_profile="ws2019").sim
    with pytest.raises(AnsibleConnectionFailure, match="created as ws2019/amd64"):
        make_connection(tmp_path, os_profile="ws2022").sim


def test_without_a_host_name_it_says_what_to_set(tmp_path: Path) -> None:
    connection = connection_loader.get("gowin.server.winsim", PlayContext(), None)
    connection.set_options(direct={"state_dir": str(tmp_path)})
    with pytest.raises(AnsibleConnectionFailure, match="inventory_hostname"):
        connection.exec_command(_channel.BOOTSTRAP_COMMAND, in_data=b"")


def test_host_name_and_state_dir_come_from_inventory_vars(tmp_path: Path) -> None:
    connection = connection_loader.get("gowin.server.winsim", PlayContext(), None)
    connection.set_options(var_options={"inventory_hostname": "web-01.example.com", "ansible_winsim_state_dir": str(tmp_path)})
    assert connection.sim.root == str(tmp_path / "web-01.example.com")
    assert connection.sim.computer_name == "WEB-01"


# ---------------------------------------------------------------------------------------------
# redirects across origins (issue 11): credentials stay with the origin they were given for


class _OtherOriginServer(_FixtureServer):
    """Another origin: the same address, another port. It records the path and Authorization header
    of every request."""

    requests: list[tuple[str, str | None]]


class _OtherOriginHandler(http.server.BaseHTTPRequestHandler):
    """/f/NAME: 200 with the fixture when the request carries no Authorization header, 403 when it
    does (credentials reached an origin they were not given for)."""

    server: _OtherOriginServer

    def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002  (quiet)
        return

    def do_GET(self) -> None:  # noqa: N802  (http.server's name)
        self.server.requests.append((self.path, self.headers.get("Authorization")))
        route, _sep, rest = self.path.lstrip("/").partition("/")
        name = urllib.parse.unquote(rest)
        if self.headers.get("Authorization") is not None:
            body, code = b"credentials were sent to another origin\n", 403
        elif route == "f" and name in self.server.fixtures:
            body, code = self.server.fixtures[name], 200
        else:
            body, code = b"not found\n", 404
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# The servers of this run, by base URL (the contract tests below read what they recorded).
OTHER_ORIGINS: dict[str, _OtherOriginServer] = {}

# Routes of the main fixture servers that redirect (see redirect_route).
REDIRECT_ROUTES = frozenset({
    "offsite", "auth-offsite", "auth-redirect", "relative", "to-http", "loop", "userinfo-offsite", "no-location",
})


def start_other_origin(address: str, started: list[_FixtureServer], urls: dict[str, str]) -> None:
    """Start the other origin and tell the main servers where it (and the plain http server) is."""
    other = _OtherOriginServer((address, 0), _OtherOriginHandler)
    other.fixtures = started[0].fixtures
    other.requests = []
    threading.Thread(target=other.serve_forever, daemon=True).start()
    urls["other"] = "http://%s:%d" % (address, other.server_address[1])
    OTHER_ORIGINS[urls["other"]] = other
    for server in started:
        server.other_origin = urls["other"]  # type: ignore[attr-defined]
        server.plain_http = urls["http"]  # type: ignore[attr-defined]
    started.append(other)


def redirect_route(handler: _FixtureHandler, route: str, rest: str, name: str) -> None:
    """/offsite/NAME: 302 to the other origin's /f/NAME.  /auth-offsite/NAME: 401 without the
    contract's basic credentials, with them 302 to the other origin.  /auth-redirect/NAME: the same,
    but 307 to this origin's /auth/NAME (credentials must follow).  /relative/NAME: 301 to
    ../f/NAME.  /to-http/NAME: 302 to the plain http server's /f/NAME (served over https: a
    downgrade).  /loop/N: 302 to /loop/N+1, for ever.  /userinfo-offsite/NAME: 302 to the other
    origin with a user:password@ in the Location.  /no-location: 302 without a Location."""
    server = handler.server
    other = getattr(server, "other_origin")
    expected = "Basic " + base64.b64encode(("%s:%s" % (AUTH_USER, AUTH_PASSWORD)).encode()).decode()
    if route in ("auth-offsite", "auth-redirect") and handler.headers.get("Authorization") != expected:
        handler._send(401, b"unauthorized\n", {"WWW-Authenticate": 'Basic realm="gowin"'})
    elif route in ("offsite", "auth-offsite"):
        handler._send(302, b"", {"Location": other + "/f/" + rest})
    elif route == "auth-redirect":
        handler._send(307, b"", {"Location": "/auth/" + rest})
    elif route == "relative":
        handler._send(301, b"", {"Location": "../f/" + rest})
    elif route == "to-http":
        handler._send(302, b"", {"Location": getattr(server, "plain_http") + "/f/" + rest})
    elif route == "loop" and rest.isdigit():
        handler._send(302, b"", {"Location": "/loop/%d" % (int(rest) + 1)})
    elif route == "userinfo-offsite":
        handler._send(302, b"", {"Location": other.replace("://", "://intruder:Sneaky-Secret-4410@") + "/f/" + rest})
    elif route == "no-location":
        handler._send(302, b"")
    else:
        handler._send(404, b"not found\n")


def test_a_redirect_to_another_origin_gets_no_credentials(tmp_path: Path, agent_path: str, env: Env) -> None:
    # The first hop needs the credentials (401 without them); the other origin must get none.
    other = OTHER_ORIGINS[env.urls["other"]]
    seen = len(other.requests)
    target = WinsimTarget(tmp_path, agent_path, "cross")
    (result,) = target.run([{"op": "file.download", "args": {
        "url": env.urls["http"] + "/auth-offsite/text:hello", "dest": target.root + "\\hello.txt",
        "username": AUTH_USER, "password": AUTH_PASSWORD,
    }}])
    assert result["ok"], result
    assert other.requests[seen:] == [("/f/text:hello", None)]


def test_a_location_with_userinfo_sends_no_credentials(tmp_path: Path, agent_path: str, env: Env) -> None:
    other = OTHER_ORIGINS[env.urls["other"]]
    seen = len(other.requests)
    target = WinsimTarget(tmp_path, agent_path, "userinfo")
    (result,) = target.run([{"op": "file.download", "args": {
        "url": env.urls["http"] + "/userinfo-offsite/text:hello", "dest": target.root + "\\hello.txt",
    }}])
    assert result["ok"], result
    assert other.requests[seen:] == [("/f/text:hello", None)]

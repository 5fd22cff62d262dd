# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

The one channel between the controller and a Windows host: a batch of typed ops goes to the
PowerShell agent in one round trip and one JSON document comes back (see docs/agent-protocol.md).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import typing as t

PROTOCOL_VERSION = 1
MARKER = "#GOWIN-REQUEST#"
AGENT_DIR = os.path.join(os.path.dirname(__file__), "_agent")
CORE_FILE = "core.ps1"
FAMILIES_MARK = "# @FAMILIES@"
POWERSHELL_PREFIX = "PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand "

# Reads stdin (psrp hands $input over as lines, winrm as one stream: joining the items with `n
# gives the same text either way), splits it at the marker line into the agent (gzip, base64: a
# quarter of its size on every round trip) and the request, and runs the agent. Nothing from the
# request is ever turned into code: only the agent text, which the controller ships and whose hash
# (of the decompressed text) the response reports, becomes a script block. Every answer, the
# no-marker one included, is pipeline output: the psrp connection runs this script inside its
# runspace and reads only the pipeline; powershell.exe under winrm and ssh prints it to stdout.
BOOTSTRAP = r"""$ErrorActionPreference = 'Stop'
$text = (@($input | ForEach-Object { [string]$_ }) -join "`n").Replace("`r", '')
$mark = "`n" + '#GOWIN-REQUEST#' + "`n"
$at = $text.IndexOf($mark)
if ($at -lt 0) {
    '{"v":1,"fatal":{"kind":"protocol","message":"gowin bootstrap: no request marker in input"}}'
    exit 1
}
$packed = [System.IO.MemoryStream]::new([Convert]::FromBase64String($text.Substring(0, $at).Trim()))
$unzip = [System.IO.Compression.GZipStream]::new($packed, [System.IO.Compression.CompressionMode]::Decompress)
$agent = [System.IO.StreamReader]::new($unzip, [System.Text.Encoding]::UTF8).ReadToEnd()
$request = $text.Substring($at + $mark.Length).Trim()
$sha = [System.Security.Cryptography.SHA256]::Create()
$hash = [System.BitConverter]::ToString($sha.ComputeHash([System.Text.Encoding]::UTF8.GetBytes($agent))).Replace('-', '').ToLowerInvariant()
& ([ScriptBlock]::Create($agent)) -RequestJson $request -AgentHash $hash
"""


class ChannelError(Exception):
    """A failure of the channel itself (not of an op): bad output, wrong agent, lost connection."""

    def __init__(self, message: str, kind: str = "channel", partial: list | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.partial = partial or []


def normalize_agent(text: str) -> str:
    """A file's text as the assembly uses it (LF line ends, no trailing blank lines)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")


def minify(text: str) -> str:
    """The agent text as it travels: blank lines, whole-line comments and indentation dropped.

    PowerShell reads the same script either way: the agent has no here-strings, no string literal
    spanning lines and no backtick line continuation (tests/unit/test_agent_static.py checks all
    three), so no line's meaning depends on its indentation or on the lines dropped."""
    lines = (line.strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line and not line.startswith("#"))


_REQUIRES = re.compile(r"^# requires: (.*)$", re.M)
_TABLE = re.compile(r"^Register-AgentOps @\{\n(.*?)^\}$", re.M | re.S)
_TABLE_OP = re.compile(r"^    '([a-z]+\.[a-z_]+)' = @\{", re.M)
_FAMILY_NAME = re.compile(r"^[a-z][a-z0-9]*$")


class Family:
    """One op family file: its name, the families whose helpers it uses, its ops and its text."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        found = _REQUIRES.search(text)
        if found is None:
            raise ValueError("%s.ps1 has no '# requires:' line" % name)
        named = found.group(1).strip()
        self.requires = tuple(sorted(x.strip() for x in named.split(",") if x.strip())) if named != "(none)" else ()
        tables = _TABLE.findall(text)
        if len(tables) != 1:
            raise ValueError("%s.ps1 must declare its ops in exactly one Register-AgentOps table" % name)
        self.ops = tuple(_TABLE_OP.findall(tables[0]))


class AgentFiles:
    """The agent as shipped: core.ps1 and one file per op family, and how a request's text is assembled.

    The text sent for a request is core.ps1 with the families the request's ops belong to (and the
    families those use, '# requires:') put in at FAMILIES_MARK in name order, then minified. The hash
    the agent reports is the SHA-256 of exactly that text."""

    def __init__(self, folder: str = AGENT_DIR) -> None:
        self.folder = folder
        with open(os.path.join(folder, CORE_FILE), "r", encoding="utf-8") as handle:
            self.core = normalize_agent(handle.read())
        if self.core.count("\n" + FAMILIES_MARK + "\n") != 1:
            raise ValueError("%s must hold the line %r exactly once" % (CORE_FILE, FAMILIES_MARK))
        self.families: dict[str, Family] = {}
        for entry in sorted(os.listdir(folder)):
            name, ext = os.path.splitext(entry)
            if ext != ".ps1" or entry == CORE_FILE:
                continue
            if not _FAMILY_NAME.match(name):
                raise ValueError("agent file %s: a family name is lower-case letters and digits" % entry)
            with open(os.path.join(folder, entry), "r", encoding="utf-8") as handle:
                self.families[name] = Family(name, normalize_agent(handle.read()))
        self.op_family: dict[str, str] = {}
        for family in self.families.values():
            for need in family.requires:
                if need not in self.families or need == family.name:
                    raise ValueError("%s.ps1 requires the family %r, which is not shipped" % (family.name, need))
            for op in family.ops:
                if op in self.op_family:
                    raise ValueError("op %s is declared by both %s.ps1 and %s.ps1" % (op, self.op_family[op], family.name))
                self.op_family[op] = family.name
        self._assembled: dict[tuple[str, ...], tuple[str, str, str]] = {}

    def closure(self, names: t.Iterable[str]) -> tuple[str, ...]:
        """The families named and every family they require, in name order."""
        todo = list(names)
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            todo.extend(self.families[name].requires)
        return tuple(sorted(seen))

    def families_for(self, ops: t.Iterable[t.Any]) -> tuple[str, ...]:
        """The families a request's ops need (an op no family declares adds none: the agent refuses it)."""
        names = set()
        for item in ops:
            name = item.get("op") if isinstance(item, dict) else None
            if isinstance(name, str) and name in self.op_family:
                names.add(self.op_family[name])
        return self.closure(names)

    def assemble(self, families: tuple[str, ...]) -> tuple[str, str, str]:
        """(text, sha256 of the text, packed text) for a closed, ordered tuple of family names."""
        cached = self._assembled.get(families)
        if cached is None:
            body = "\n\n".join(self.families[name].text for name in families)
            text = minify(self.core.replace("\n" + FAMILIES_MARK + "\n", "\n" + body + "\n"))
            cached = (text, hashlib.sha256(text.encode("utf-8")).hexdigest(), pack_agent(text))
            self._assembled[families] = cached
        return cached

    def for_ops(self, ops: t.Iterable[t.Any]) -> tuple[str, str, str]:
        return self.assemble(self.families_for(ops))


_LOADED: dict[str, tuple[tuple[tuple[str, float, int], ...], AgentFiles]] = {}


def _stamp(folder: str) -> tuple[tuple[str, float, int], ...]:
    out = []
    for entry in sorted(os.listdir(folder)):
        if entry.endswith(".ps1"):
            st = os.stat(os.path.join(folder, entry))
            out.append((entry, st.st_mtime, st.st_size))
    return tuple(out)


def load_agent_files(folder: str = AGENT_DIR) -> AgentFiles:
    """The AgentFiles of a folder, read again only when one of its files changed."""
    stamp = _stamp(folder)
    cached = _LOADED.get(folder)
    if cached is None or cached[0] != stamp:
        cached = (stamp, AgentFiles(folder))
        _LOADED[folder] = cached
    return cached[1]


def encode_command(script: str) -> str:
    return POWERSHELL_PREFIX + base64.b64encode(script.encode("utf-16-le")).decode("ascii")


BOOTSTRAP_COMMAND = encode_command(BOOTSTRAP)


def pack_agent(agent_text: str) -> str:
    """The agent as it travels: gzip (no timestamp, so the same bytes every time), then base64."""
    return base64.b64encode(gzip.compress(agent_text.encode("utf-8"), mtime=0)).decode("ascii")


def build_payload(agent_text: str, ops: list[dict], packed: str | None = None) -> bytes:
    # ensure_ascii: stdin reaches PowerShell 5.1 through the OEM code page, so the request is
    # kept to ASCII with \\u escapes; the agent answers the same way.
    request = json.dumps({"v": PROTOCOL_VERSION, "ops": ops}, ensure_ascii=True, separators=(",", ":"))
    return ((packed or pack_agent(agent_text)) + "\n" + MARKER + "\n" + request + "\n").encode("ascii")


def split_payload(payload: bytes) -> tuple[str, dict]:
    """Inverse of build_payload, used by winsim (mirrors what BOOTSTRAP does)."""
    text = payload.decode("utf-8").replace("\r", "")
    mark = "\n" + MARKER + "\n"
    at = text.find(mark)
    if at < 0:
        raise ValueError("no request marker in input")
    try:
        agent = gzip.decompress(base64.b64decode(text[:at].strip(), validate=True)).decode("utf-8")
    except (ValueError, OSError, EOFError) as err:
        raise ValueError("the agent is not gzip in base64: %s" % err) from None
    return agent, json.loads(text[at + len(mark):].strip())


def _quote_start(text: str, limit: int = 400) -> str:
    text = text.strip()
    if not text:
        return "(nothing)"
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def parse_response(stdout: str, stderr: str, rc: int, expected_hash: str, sent: int) -> list[dict]:
    """Turn what came back into the results list, or a clear ChannelError."""
    body = stdout.strip()
    # A noisy profile or a banner may print before the document; the document is the last line
    # that parses as our JSON object.
    doc = None
    for line in reversed(body.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                doc = json.loads(line)
            except (ValueError, RecursionError):
                continue
            break
    if not isinstance(doc, dict) or doc.get("v") != PROTOCOL_VERSION:
        hint = ""
        low = (stdout + stderr).lower()
        if "constrainedlanguage" in low or "cannot invoke method" in low:
            hint = " The host seems to run PowerShell in ConstrainedLanguage mode, which the agent cannot use."
        elif "is not recognized" in low:
            hint = " Windows PowerShell 5.1 (powershell.exe) was not found on the host."
        raise ChannelError(
            "The gowin agent did not answer with its JSON document (rc=%s).%s Output started with: %s; "
            "error output started with: %s" % (rc, hint, _quote_start(stdout), _quote_start(stderr)),
            kind="protocol",
        )
    if "fatal" in doc:
        fatal = doc["fatal"] or {}
        raise ChannelError("The gowin agent failed: %s" % fatal.get("message", fatal), kind=fatal.get("kind", "internal"))
    if doc.get("agent") != expected_hash:
        raise ChannelError(
            "The host answered with agent %s but %s was sent; refusing a mismatched agent."
            % (doc.get("agent"), expected_hash),
            kind="protocol",
        )
    results = doc.get("results")
    if not isinstance(results, list) or len(results) > sent:
        raise ChannelError("The gowin agent answered with a malformed results list.", kind="protocol")
    return results


class OpError(Exception):
    """An op the host ran reported a failure."""

    def __init__(self, index: int, op: dict, kind: str, message: str, results: list) -> None:
        super().__init__(message)
        self.index = index
        self.op = op
        self.kind = kind
        self.results = results


class Channel:
    """One call to run() is one round trip to the host."""

    def __init__(self, action: t.Any, agent_dir: str | None = None) -> None:
        self._action = action
        folder = agent_dir or AGENT_DIR
        try:
            self.files = load_agent_files(folder)
        except (OSError, ValueError) as err:
            raise ChannelError(
                "The gowin agent scripts are missing or damaged in this installation of gowin.server (%s): %s; "
                "reinstall the collection." % (folder, getattr(err, "strerror", None) or err), kind="install",
            ) from None
        self.round_trips = 0
        self.bytes_sent = 0

    def run(self, ops: list[dict]) -> list[dict]:
        """Send ops, return one result per op that ran (a failing op is the last one)."""
        if not ops:
            return []
        text, digest, packed = self.files.for_ops(ops)
        payload = build_payload(text, ops, packed)
        self.round_trips += 1
        self.bytes_sent += len(payload) + len(BOOTSTRAP_COMMAND)
        res = self._action._low_level_execute_command(BOOTSTRAP_COMMAND, in_data=payload, sudoable=False)
        return parse_response(
            res.get("stdout", "") or "",
            res.get("stderr", "") or "",
            res.get("rc", -1),
            digest,
            len(ops),
        )

    def run_checked(self, ops: list[dict]) -> list[dict]:
        """Like run(), but raise OpError at the first failed op; returns the data of each op."""
        results = self.run(ops)
        for index, result in enumerate(results):
            if not result.get("ok"):
                err = result.get("error") or {}
                raise OpError(index, ops[index], err.get("kind", "internal"), err.get("message", "unknown error"), results)
        if len(results) != len(ops):
            raise ChannelError("The gowin agent stopped after %d of %d ops without saying why." % (len(results), len(ops)))
        return [r.get("data") or {} for r in results]

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
import typing as t

PROTOCOL_VERSION = 1
MARKER = "#GOWIN-REQUEST#"
AGENT_PATH = os.path.join(os.path.dirname(__file__), "_agent", "agent.ps1")
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
    """The agent text exactly as it travels (LF line ends, no trailing blank lines)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")


def load_agent(path: str = AGENT_PATH) -> tuple[str, str]:
    with open(path, "r", encoding="utf-8") as handle:
        text = normalize_agent(handle.read())
    return text, hashlib.sha256(text.encode("utf-8")).hexdigest()


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
            except ValueError:
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

    def __init__(self, action: t.Any, agent_path: str = AGENT_PATH) -> None:
        self._action = action
        try:
            self.agent_text, self.agent_hash = load_agent(agent_path)
        except OSError as err:
            raise ChannelError(
                "The gowin agent script is missing from this installation of gowin.server (%s): %s; "
                "reinstall the collection." % (agent_path, err.strerror), kind="install",
            ) from None
        self.packed_agent = pack_agent(self.agent_text)
        self.round_trips = 0

    def run(self, ops: list[dict]) -> list[dict]:
        """Send ops, return one result per op that ran (a failing op is the last one)."""
        if not ops:
            return []
        payload = build_payload(self.agent_text, ops, self.packed_agent)
        self.round_trips += 1
        res = self._action._low_level_execute_command(BOOTSTRAP_COMMAND, in_data=payload, sudoable=False)
        return parse_response(
            res.get("stdout", "") or "",
            res.get("stderr", "") or "",
            res.get("rc", -1),
            self.agent_hash,
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

# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Static checks of the PowerShell agent (plugins/plugin_utils/_agent/agent.ps1).

There is no Windows host and no pwsh in CI, so the agent is checked by parsing it with
tree-sitter-powershell:

(a) it parses with no ERROR/MISSING nodes, and has no PowerShell 7-only syntax
    (``??``, ``?.``, ternary ``? :``, ``&&``, ``||``, ``ForEach-Object -Parallel``);
(b) outside comments and strings it uses none of the constructs that turn data into code
    (Invoke-Expression/iex, [ScriptBlock]::Create, Add-Type, Invoke-Command, InvokeCommand,
    Start-Process, cmd.exe / ``cmd /c``), passes ``-Path`` to no cmdlet (except the one documented
    junction line whose parent is escaped with WildcardPattern::Escape), and applies ``&`` only to
    a scriptblock literal or a function defined in the file;
(c) it is pure ASCII;
(d) its dispatch table names exactly the ops of docs/agent-protocol.md;
(e) the channel BOOTSTRAP parses (it runs the agent text with [ScriptBlock]::Create on purpose:
    the agent is shipped code, not data, so (b) applies to agent.ps1 only).

Every checker is also fed bad snippets to show it can fail.
"""

from __future__ import annotations

import os
import re

import pytest

tree_sitter = pytest.importorskip(
    "tree_sitter", reason="tree_sitter is not installed: the agent's static checks need tree-sitter and tree-sitter-powershell"
)
tree_sitter_powershell = pytest.importorskip(
    "tree_sitter_powershell", reason="tree_sitter_powershell is not installed: the agent's static checks need it"
)

from ansible_collections.gowin.server.plugins.plugin_utils import _channel  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AGENT = os.path.join(ROOT, "plugins", "plugin_utils", "_agent", "agent.ps1")
PROTOCOL = os.path.join(ROOT, "docs", "agent-protocol.md")

_PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))

# Leaf node types that hold string text (their text is data, not code).
STRING_TYPES = frozenset({
    "verbatim_string_characters",
    "expandable_string_literal",
    "verbatim_here_string_characters",
    "expandable_here_string_literal",
})
COMMENT_TYPES = frozenset({"comment"})

# Patterns searched in the code-only text (comments and string contents blanked out).
FORBIDDEN = (
    ("Invoke-Expression", re.compile(r"(?i)(?<![\w$-])Invoke-Expression(?![\w-])")),
    ("iex", re.compile(r"(?i)(?<![\w$.-])iex(?![\w-])")),
    ("[ScriptBlock]::Create", re.compile(r"(?i)ScriptBlock\s*\]\s*::\s*Create")),
    ("Add-Type", re.compile(r"(?i)(?<![\w$-])Add-Type(?![\w-])")),
    ("Invoke-Command", re.compile(r"(?i)(?<![\w$-])Invoke-Command(?![\w-])")),
    ("InvokeCommand", re.compile(r"(?i)(?<![\w$])InvokeCommand(?!\w)")),
    ("Start-Process", re.compile(r"(?i)(?<![\w$-])Start-Process(?![\w-])")),
    ("cmd.exe", re.compile(r"(?i)(?<![\w$-])cmd\.exe(?![\w-])")),
    ("cmd /c", re.compile(r"(?i)(?<![\w$-])cmd(\.exe)?\s+/[ck](?!\w)")),
)
# Checked in string contents too: a command string handed to a process would hide there.
FORBIDDEN_IN_STRINGS = (
    ("cmd.exe", re.compile(r"(?i)(?<![\w$-])cmd\.exe(?![\w-])")),
    ("cmd /c", re.compile(r"(?i)(?<![\w$-])cmd(\.exe)?\s+/[ck](?!\w)")),
)
# The agent and the bootstrap answer through the pipeline only (psrp reads nothing else).
CONSOLE_WRITES = (
    ("[Console]::Out", re.compile(r"(?i)\[\s*(System\.)?Console\s*\]\s*::\s*(Out|Write|WriteLine)\b")),
    ("Write-Host", re.compile(r"(?i)(?<![\w$-])Write-Host(?![\w-])")),
    ("Out-Host", re.compile(r"(?i)(?<![\w$-])Out-Host(?![\w-])")),
    ("$Host.UI", re.compile(r"(?i)\$Host\.UI\b")),
)
PS7_TOKENS = frozenset({"??", "??=", "?.", "?[", "&&", "||", "?"})
ESCAPED_PATH_MARK = "WildcardPattern]::Escape"


# ---- helpers ------------------------------------------------------------------------------

# tree-sitter-powershell 0.26 lexes a '#' that follows an escape sequence inside a double-quoted
# string ("`n#GOWIN-REQUEST#`n", as in the BOOTSTRAP) as the start of a comment, and then reports
# an ERROR for valid PowerShell. Before parsing, such a '#' is written as "`#", which PowerShell
# reads as the same '#': the text means the same and the grammar copes. Nothing else is changed
# (no newline is added, so reported line numbers stay right).
_ESCAPE_THEN_HASH = re.compile(r"(`[0abefnrtv])#")


def _dodge_lexer_quirks(source: str) -> str:
    return _ESCAPE_THEN_HASH.sub(r"\1`#", source)


def parse(source: str):
    return _PARSER.parse(_dodge_lexer_quirks(source).encode("utf-8"))


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _line_of(source_bytes: bytes, offset: int) -> int:
    return source_bytes.count(b"\n", 0, offset) + 1


def syntax_errors(source: str) -> list[str]:
    """ERROR and MISSING nodes, as 'line N: text'."""
    data = _dodge_lexer_quirks(source).encode("utf-8")
    tree = _PARSER.parse(data)
    found = []
    for node in _walk(tree.root_node):
        if node.type == "ERROR" or node.is_missing:
            text = data[node.start_byte:node.end_byte].decode("utf-8", "replace")[:60]
            found.append("line %d: %s %r" % (node.start_point[0] + 1, "ERROR" if node.type == "ERROR" else "MISSING", text))
    return found


def _string_gaps(node):
    """Byte ranges of a string node's own text (not covered by embedded sub-expressions)."""
    start = node.start_byte
    for child in node.children:
        if child.start_byte > start:
            yield start, child.start_byte
        start = max(start, child.end_byte)
    if node.end_byte > start:
        yield start, node.end_byte


def split_code(source: str) -> tuple[str, list[str]]:
    """(code text with comments and string contents blanked to spaces, the string contents)."""
    data = bytearray(_dodge_lexer_quirks(source).encode("utf-8"))
    tree = _PARSER.parse(bytes(data))
    strings = []
    ranges = []
    for node in _walk(tree.root_node):
        if node.type in COMMENT_TYPES:
            ranges.append((node.start_byte, node.end_byte))
        elif node.type in STRING_TYPES:
            for start, end in _string_gaps(node):
                strings.append(bytes(data[start:end]).decode("utf-8", "replace"))
                ranges.append((start, end))
    for start, end in ranges:
        for i in range(start, end):
            if data[i] not in (0x0A, 0x0D):
                data[i] = 0x20
    return bytes(data).decode("utf-8", "replace"), strings


def _code_leaves(tree):
    """Leaf nodes that are code (not inside a comment, not string text)."""
    for node in _walk(tree.root_node):
        if node.child_count:
            continue
        if node.type in COMMENT_TYPES or node.type in STRING_TYPES:
            continue
        yield node


def ps7_syntax(source: str) -> list[str]:
    """PowerShell 7-only syntax: explicit token scan outside comments and strings."""
    source = _dodge_lexer_quirks(source)
    data = source.encode("utf-8")
    tree = _PARSER.parse(data)
    found = []
    for node in _code_leaves(tree):
        text = data[node.start_byte:node.end_byte].decode("utf-8", "replace").strip()
        line = node.start_point[0] + 1
        if node.type == "command_name":
            continue  # a command may be named '?' (Where-Object); not an operator
        if text in PS7_TOKENS or node.type in ("&&", "||"):
            found.append("line %d: PowerShell 7-only operator %r" % (line, text))
        elif node.type == "command_parameter" and text.lower() == "-parallel":
            found.append("line %d: ForEach-Object -Parallel is PowerShell 7-only" % line)
    for node in _walk(tree.root_node):
        if node.type == "pipeline_chain_tail":
            found.append("line %d: pipeline chain (&& / ||) is PowerShell 7-only" % (node.start_point[0] + 1))
    # The tokens also in the code text (the grammar may fold an unknown operator into an ERROR).
    code, _strings = split_code(source)
    for number, line_text in enumerate(code.splitlines(), 1):
        for token, pattern in (("??", r"\?\?"), ("?.", r"\?\.(?=[A-Za-z_])"), ("&&", r"&&"), ("||", r"\|\|")):
            if re.search(pattern, line_text):
                found.append("line %d: PowerShell 7-only operator %r" % (number, token))
    return sorted(set(found))


def defined_functions(source: str) -> set[str]:
    data = _dodge_lexer_quirks(source).encode("utf-8")
    tree = _PARSER.parse(data)
    names = set()
    for node in _walk(tree.root_node):
        if node.type == "function_name":
            names.add(data[node.start_byte:node.end_byte].decode().lower())
    return names


def forbidden_constructs(source: str) -> list[str]:
    """Constructs that could turn data into code, or that bypass -LiteralPath."""
    source = _dodge_lexer_quirks(source)
    data = source.encode("utf-8")
    tree = _PARSER.parse(data)
    code, strings = split_code(source)
    lines = source.splitlines()
    found = []
    for number, line_text in enumerate(code.splitlines(), 1):
        for name, pattern in FORBIDDEN:
            if pattern.search(line_text):
                found.append("line %d: %s" % (number, name))
    for text in strings:
        for name, pattern in FORBIDDEN_IN_STRINGS:
            if pattern.search(text):
                found.append("string %r: %s" % (text[:40], name))
    functions = defined_functions(source)
    for node in _walk(tree.root_node):
        line = node.start_point[0] + 1
        if node.type == "command_parameter":
            text = data[node.start_byte:node.end_byte].decode().strip().lower()
            if text == "-path" and ESCAPED_PATH_MARK not in lines[line - 1]:
                found.append("line %d: -Path on a cmdlet (use -LiteralPath)" % line)
        elif node.type == "command_invokation_operator":
            op = data[node.start_byte:node.end_byte].decode().strip()
            target = node.next_named_sibling
            ok = False
            if target is not None and target.type == "command_name_expr" and target.named_child_count == 1:
                inner = target.named_children[0]
                if inner.type == "script_block_expression":
                    ok = True
                elif inner.type == "path_command_name" and inner.named_child_count == 1:
                    token = inner.named_children[0]
                    name = data[token.start_byte:token.end_byte].decode().lower()
                    ok = token.type == "path_command_name_token" and name in functions
            if not ok:
                shown = data[node.start_byte:(target.end_byte if target is not None else node.end_byte)].decode()
                found.append("line %d: %r applied to something other than a scriptblock literal or a function of this file: %r" % (line, op, shown))
        elif node.type == "command_name":
            name = data[node.start_byte:node.end_byte].decode().strip().lower()
            if name in ("iex", "invoke-expression", "add-type", "invoke-command", "icm", "start-process", "saps", "cmd", "cmd.exe"):
                found.append("line %d: command %s" % (line, name))
    return sorted(set(found))


def non_ascii(source: str) -> list[str]:
    return ["line %d" % n for n, line in enumerate(source.splitlines(), 1) if any(ord(c) > 0x7E and c != "\t" for c in line)] + [
        "line %d: control character" % n for n, line in enumerate(source.splitlines(), 1) if any(ord(c) < 0x20 and c != "\t" for c in line)
    ]


def dispatch_ops(source: str) -> set[str]:
    """The keys of the `$OpTable = @{ ... }` hashtable literal."""
    data = _dodge_lexer_quirks(source).encode("utf-8")
    tree = _PARSER.parse(data)
    for node in _walk(tree.root_node):
        if node.type != "assignment_expression":
            continue
        left = node.child_by_field_name("left") or node.children[0]
        if data[left.start_byte:left.end_byte].decode().strip().lower() != "$optable":
            continue
        for inner in _walk(node):
            if inner.type == "hash_literal_expression":
                body = next((c for c in inner.children if c.type == "hash_literal_body"), None)
                keys = set()
                for entry in (body.children if body is not None else []):
                    if entry.type != "hash_entry":
                        continue
                    key = next(c for c in entry.children if c.type == "key_expression")
                    keys.add(data[key.start_byte:key.end_byte].decode().strip().strip("'\""))
                return keys
    return set()


def protocol_ops() -> set[str]:
    with open(PROTOCOL, encoding="utf-8") as handle:
        return set(re.findall(r"^### ([a-z]+\.[a-z]+)\s*$", handle.read(), re.M))


@pytest.fixture(scope="module")
def agent() -> str:
    with open(AGENT, encoding="utf-8") as handle:
        return handle.read()


# ---- (a) parses, Windows PowerShell 5.1 syntax only --------------------------------------


def test_agent_parses_without_errors(agent):
    assert syntax_errors(agent) == []


def test_agent_has_no_ps7_syntax(agent):
    assert ps7_syntax(agent) == []


@pytest.mark.parametrize(
    "snippet",
    [
        "$a = $b ?? 1",
        "$a ??= 1",
        "$x = $y ? 1 : 2",
        "$n = $obj?.Name",
        "Get-Thing && Get-Other",
        "Get-Thing || Get-Other",
        "1..3 | ForEach-Object -Parallel { $_ }",
    ],
)
def test_ps7_checks_flag_bad_snippets(snippet):
    assert ps7_syntax(snippet) or syntax_errors(snippet), snippet
    if snippet in ("$a = $b ?? 1", "Get-Thing && Get-Other", "Get-Thing || Get-Other", "1..3 | ForEach-Object -Parallel { $_ }"):
        assert ps7_syntax(snippet), snippet  # the explicit token scan itself catches these


def test_ps7_checks_ignore_comments_and_strings():
    snippet = "# a ?? b && c || d ?. e\n$s = 'x ?? y && z || w'\n$t = \"-Parallel ??\"\n"
    assert ps7_syntax(snippet) == []
    assert syntax_errors(snippet) == []


def test_syntax_check_flags_broken_code():
    assert syntax_errors("function Broken {\n    $x = (1 + \n")


# ---- (b) nothing turns data into code; -LiteralPath only ---------------------------------


def test_agent_has_no_forbidden_constructs(agent):
    assert forbidden_constructs(agent) == []


@pytest.mark.parametrize(
    "snippet, what",
    [
        ("iex $x", "iex"),
        ("Invoke-Expression -Command $x", "Invoke-Expression"),
        ("$sb = [ScriptBlock]::Create($text)", "ScriptBlock]::Create"),
        ("$sb = [System.Management.Automation.ScriptBlock]::Create($text)", "ScriptBlock]::Create"),
        ("Add-Type -TypeDefinition $s", "Add-Type"),
        ("Invoke-Command -ScriptBlock $b", "Invoke-Command"),
        ("$ExecutionContext.InvokeCommand.InvokeScript($s)", "InvokeCommand"),
        ("Start-Process -FilePath $exe", "Start-Process"),
        ("cmd /c $line", "cmd /c"),
        ("$p.StartInfo.FileName = 'cmd.exe'", "cmd.exe"),
        ("Get-Item -Path $p", "-Path"),
        ("Remove-Item -Path $p -Recurse", "-Path"),
        ("& $cmd", "applied to"),
        ("& $table[$name] $x", "applied to"),
        ("& 'Get-Item' $x", "applied to"),
        ("& Not-DefinedHere $x", "applied to"),
        (". $script", "applied to"),
    ],
)
def test_forbidden_checks_flag_bad_snippets(snippet, what):
    found = forbidden_constructs(snippet)
    assert any(what in f for f in found), (snippet, found)


def test_forbidden_checks_pass_a_clean_snippet():
    snippet = (
        "function Get-Thing {\n"
        "    param($a)\n"
        "    return $a\n"
        "}\n"
        "# iex, Add-Type and Invoke-Expression in a comment are fine\n"
        "$s = 'iex is only text here; so is Add-Type and Start-Process'\n"
        "$x = & { param($v) $v } 1\n"
        "$y = & Get-Thing 2\n"
        "$i = Get-Item -LiteralPath $p -Force\n"
        "$t = Test-Path -LiteralPath $p -PathType Container\n"
        "$null = New-Item -ItemType Junction -Path ([System.Management.Automation.WildcardPattern]::Escape($parent)) -Name $n -Value $t\n"
    )
    assert syntax_errors(snippet) == []
    assert forbidden_constructs(snippet) == []
    assert ps7_syntax(snippet) == []


def test_path_exception_is_only_for_the_escaped_line():
    snippet = "$null = New-Item -ItemType Junction -Path $parent -Name $n -Value $t\n"
    assert any("-Path" in f for f in forbidden_constructs(snippet))


def test_agent_uses_path_only_on_the_escaped_junction_line(agent):
    lines = [line for line in agent.splitlines() if re.search(r"(?i)\s-Path\b(?!Type)", line) and not line.lstrip().startswith("#")]
    assert len(lines) == 1 and ESCAPED_PATH_MARK in lines[0], lines


# ---- (c) ASCII ----------------------------------------------------------------------------


def test_agent_is_ascii():
    with open(AGENT, "rb") as handle:
        raw = handle.read()
    assert all(b < 0x80 for b in raw), "agent.ps1 must be pure ASCII"
    assert non_ascii(raw.decode("ascii")) == []


def test_ascii_check_flags_non_ascii():
    assert non_ascii("$x = 'caf\u00e9'\n")
    assert non_ascii("$x = 1\n") == []


# ---- (d) the dispatch table matches the protocol ------------------------------------------


def test_dispatch_table_matches_protocol(agent):
    ops = dispatch_ops(agent)
    documented = protocol_ops()
    assert len(documented) >= 16
    assert ops == documented, {"missing": sorted(documented - ops), "extra": sorted(ops - documented)}


def test_dispatch_table_check_reads_keys():
    snippet = (
        "$OpTable = @{\n"
        "    'a.b' = @{ accepted = @('x'); run = { param($a) Get-A $a } }\n"
        "    'c.d' = @{ accepted = @(); run = { param($a) Get-C $a } }\n"
        "}\n"
    )
    assert dispatch_ops(snippet) == {"a.b", "c.d"}


def test_dispatch_handlers_are_defined_functions(agent):
    functions = defined_functions(agent)
    handlers = set(re.findall(r"run = \{ param\(\$a\) ([A-Za-z-]+) \$a \}", agent))
    assert len(handlers) == len(dispatch_ops(agent))
    assert {h.lower() for h in handlers} <= functions


# ---- (e) the channel's BOOTSTRAP ----------------------------------------------------------


def test_lexer_quirk_workaround_keeps_meaning():
    snippet = '$mark = "`n#GOWIN-REQUEST#`n"\n'
    assert _dodge_lexer_quirks(snippet) == '$mark = "`n`#GOWIN-REQUEST#`n"\n'
    assert syntax_errors(snippet) == []
    # a real error next to the quirk is still reported
    assert syntax_errors('$mark = "`n#x"\n$y = (1 +\n')


def console_writes(source: str) -> list[str]:
    code, _strings = split_code(source)
    return [name for name, pattern in CONSOLE_WRITES if pattern.search(code)]


def test_agent_and_bootstrap_answer_through_the_pipeline(agent):
    assert console_writes(agent) == []
    assert console_writes(_channel.BOOTSTRAP) == []


@pytest.mark.parametrize("snippet, what", [
    ("[Console]::Out.Write($line)", "[Console]::Out"),
    ("[System.Console]::WriteLine($line)", "[Console]::Out"),
    ("Write-Host $line", "Write-Host"),
    ("$line | Out-Host", "Out-Host"),
    ("$Host.UI.WriteLine($line)", "$Host.UI"),
])
def test_console_write_check_flags_bad_snippets(snippet, what):
    assert what in console_writes(snippet)
    assert console_writes("# " + snippet + "\n$s = 'Write-Host is only text'\n") == []


def test_bootstrap_parses():
    assert syntax_errors(_channel.BOOTSTRAP) == []
    assert ps7_syntax(_channel.BOOTSTRAP) == []

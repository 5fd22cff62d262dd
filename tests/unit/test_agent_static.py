# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Static checks of the PowerShell agent (plugins/plugin_utils/_agent/: core.ps1 + one file per op family).

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
(d) each family declares its ops in one table; every op has its winsim twin in _winsim/<family>.py,
    at least three contract vectors in tests/contract/vectors/<family>.yml and a section under its
    family in docs/agent-protocol.md; no family file is over 600 lines; every function a family
    calls is defined in core.ps1, in the family itself or in a family it requires;
(e) the channel BOOTSTRAP parses (it runs the agent text with [ScriptBlock]::Create on purpose:
    the agent is shipped code, not data, so (b) applies to the agent files only);
(f) what the channel sends (the minified assembly) parses too, and nothing in the files makes
    minifying change their meaning (no here-string, no string literal over several lines, no
    backtick line continuation).

Every checker is also fed bad snippets to show it can fail.
"""

from __future__ import annotations

import os
import re

import pytest
import yaml

tree_sitter = pytest.importorskip(
    "tree_sitter", reason="tree_sitter is not installed: the agent's static checks need tree-sitter and tree-sitter-powershell"
)
tree_sitter_powershell = pytest.importorskip(
    "tree_sitter_powershell", reason="tree_sitter_powershell is not installed: the agent's static checks need it"
)

from ansible_collections.gowin.server.plugins.plugin_utils import _channel  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AGENT_DIR = os.path.join(ROOT, "plugins", "plugin_utils", "_agent")
AGENT_FILES = sorted(f for f in os.listdir(AGENT_DIR) if f.endswith(".ps1"))
WINSIM_DIR = os.path.join(ROOT, "plugins", "plugin_utils", "_winsim")
VECTOR_DIR = os.path.join(ROOT, "tests", "contract", "vectors")
PROTOCOL = os.path.join(ROOT, "docs", "agent-protocol.md")
MAX_FAMILY_LINES = 600

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
    """The keys of the hashtable literal passed to `Register-AgentOps` (a family's op table)."""
    data = _dodge_lexer_quirks(source).encode("utf-8")
    tree = _PARSER.parse(data)
    for node in _walk(tree.root_node):
        if node.type != "command":
            continue
        name = node.child_by_field_name("command_name") or node.children[0]
        if data[name.start_byte:name.end_byte].decode().strip().lower() != "register-agentops":
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


def called_commands(source: str) -> set[str]:
    """The command names a script invokes (lower case)."""
    data = _dodge_lexer_quirks(source).encode("utf-8")
    tree = _PARSER.parse(data)
    return {data[n.start_byte:n.end_byte].decode().strip().lower() for n in _walk(tree.root_node) if n.type == "command_name"}


def multiline_strings(source: str) -> list[str]:
    """String literals that span lines, here-strings and backtick line continuations: what would
    make the channel's minify (which strips every line) change what a script means."""
    data = _dodge_lexer_quirks(source).encode("utf-8")
    tree = _PARSER.parse(data)
    found = []
    for node in _walk(tree.root_node):
        if node.type in ("string_literal", "expandable_string_literal", "verbatim_string_characters",
                         "expandable_here_string_literal", "verbatim_here_string_characters"):
            if node.start_point[0] != node.end_point[0] or "here_string" in node.type:
                found.append("line %d: a string over several lines" % (node.start_point[0] + 1))
    code, _strings = split_code(source)
    for number, line in enumerate(code.splitlines(), 1):
        if line.rstrip().endswith("`"):
            found.append("line %d: backtick line continuation" % number)
    return sorted(set(found))


def protocol_sections() -> dict[str, set[str]]:
    """family -> the ops with a '### op' section under its '## Family: name' heading."""
    with open(PROTOCOL, encoding="utf-8") as handle:
        text = handle.read()
    sections: dict[str, set[str]] = {}
    family = None
    for line in text.splitlines():
        heading = re.match(r"^## (?:Family: `?([a-z0-9]+)`?)?", line)
        if heading:
            family = heading.group(1)
            if family:
                sections.setdefault(family, set())
            continue
        op = re.match(r"^### ([a-z]+\.[a-z_]+)\s*$", line)
        if op and family:
            sections[family].add(op.group(1))
    return sections


def read(name: str) -> str:
    with open(os.path.join(AGENT_DIR, name), encoding="utf-8") as handle:
        return handle.read()


FAMILY_FILES = [f for f in AGENT_FILES if f != _channel.CORE_FILE]


@pytest.fixture(scope="module")
def agent() -> str:
    """Every agent file, assembled as the channel does but not minified (the line numbers of
    findings are those of this text; each file is checked on its own below too)."""
    files = _channel.load_agent_files(AGENT_DIR)
    body = "\n\n".join(files.families[name].text for name in sorted(files.families))
    return files.core.replace("\n" + _channel.FAMILIES_MARK + "\n", "\n" + body + "\n")


@pytest.fixture(scope="module")
def sent() -> str:
    """The minified text the channel sends for a request using every family."""
    files = _channel.load_agent_files(AGENT_DIR)
    return files.assemble(tuple(sorted(files.families)))[0]


# ---- (a) parses, Windows PowerShell 5.1 syntax only --------------------------------------


@pytest.mark.parametrize("name", AGENT_FILES)
def test_each_agent_file_parses_without_errors(name):
    assert syntax_errors(read(name)) == []


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


@pytest.mark.parametrize("name", AGENT_FILES)
def test_agent_is_ascii(name):
    with open(os.path.join(AGENT_DIR, name), "rb") as handle:
        raw = handle.read()
    assert all(b < 0x80 for b in raw), "%s must be pure ASCII" % name
    assert non_ascii(raw.decode("ascii")) == []


def test_ascii_check_flags_non_ascii():
    assert non_ascii("$x = 'caf\u00e9'\n")
    assert non_ascii("$x = 1\n") == []


# ---- (d) op families: tables, twins, vectors, protocol sections, sizes, helpers -----------


def test_every_family_declares_its_ops_and_core_declares_none():
    files = _channel.load_agent_files(AGENT_DIR)
    assert sorted(files.families) == sorted(f[:-4] for f in FAMILY_FILES)
    assert len(files.op_family) >= 18
    for name in FAMILY_FILES:
        ops = dispatch_ops(read(name))
        assert ops, "%s declares no ops" % name
        assert ops == set(files.families[name[:-4]].ops), name  # the channel's reading agrees with the parser's
    assert dispatch_ops(read(_channel.CORE_FILE)) == set()


def test_every_op_has_a_twin_vectors_and_a_protocol_section():
    from ansible_collections.gowin.server.plugins.plugin_utils._winsim import OPS, op_family

    files = _channel.load_agent_files(AGENT_DIR)
    sections = protocol_sections()
    problems = []
    for op, family in sorted(files.op_family.items()):
        if op not in OPS:
            problems.append("%s: no winsim twin" % op)
        elif op_family(op) != family:
            problems.append("%s: its twin is in _winsim/%s.py, not _winsim/%s.py" % (op, op_family(op), family))
        vector_file = os.path.join(VECTOR_DIR, family + ".yml")
        vectors = []
        if os.path.exists(vector_file):
            with open(vector_file, encoding="utf-8") as handle:
                vectors = yaml.safe_load(handle) or []
        count = sum(1 for v in vectors if v.get("op") == op or any(b.get("op") == op for b in v.get("batch") or []))
        if count < 3:
            problems.append("%s: %d contract vectors in vectors/%s.yml (at least 3)" % (op, count, family))
        if op not in sections.get(family, set()):
            problems.append("%s: no '### %s' section under '## Family: %s' in docs/agent-protocol.md" % (op, op, family))
    extra = sorted(set(OPS) - set(files.op_family))
    assert not extra, "winsim ops no agent family declares: %s" % extra
    for family, ops in sections.items():
        for op in ops - set(files.families.get(family).ops if family in files.families else ()):
            problems.append("docs/agent-protocol.md documents %s under family %s, which does not declare it" % (op, family))
    assert problems == []


def test_every_family_has_its_twin_module_and_vector_file():
    families = sorted(f[:-4] for f in FAMILY_FILES)
    twins = sorted(f[:-3] for f in os.listdir(WINSIM_DIR) if f.endswith(".py") and f != "__init__.py")
    assert twins == families  # _winsim/host.py is the host itself and the twin of the host family
    assert sorted(f[:-4] for f in os.listdir(VECTOR_DIR) if f.endswith(".yml")) == families


@pytest.mark.parametrize("name", AGENT_FILES)
def test_no_agent_file_is_over_600_lines(name):
    assert len(read(name).splitlines()) <= MAX_FAMILY_LINES


def test_every_function_a_family_calls_is_core_its_own_or_required():
    files = _channel.load_agent_files(AGENT_DIR)
    defined = {name[:-4]: defined_functions(read(name)) for name in AGENT_FILES}
    owner: dict[str, str] = {}
    for family, names in defined.items():
        for fn in names:
            assert fn not in owner, "%s is defined in both %s.ps1 and %s.ps1" % (fn, owner[fn], family)
            owner[fn] = family
    problems = []
    for family, fam in files.families.items():
        reach = set(files.closure([family])) | {"core"}
        for fn in called_commands(fam.text):
            if fn in owner and owner[fn] not in reach:
                problems.append("%s.ps1 calls %s of %s.ps1 but does not require it" % (family, fn, owner[fn]))
    for fn in called_commands(files.core):
        if fn in owner and owner[fn] != "core":
            problems.append("core.ps1 calls %s of %s.ps1" % (fn, owner[fn]))
    assert problems == []


def test_dispatch_table_check_reads_keys():
    snippet = (
        "Register-AgentOps @{\n"
        "    'a.b' = @{ accepted = @('x'); run = { param($a) Get-A $a } }\n"
        "    'c.d' = @{ accepted = @(); run = { param($a) Get-C $a } }\n"
        "}\n"
    )
    assert dispatch_ops(snippet) == {"a.b", "c.d"}
    assert dispatch_ops("$t = @{ 'a.b' = 1 }\n") == set()


def test_call_check_finds_commands():
    assert called_commands("function A { B-Thing 1 }\n$x = C-Other\n") >= {"b-thing", "c-other"}


def test_dispatch_handlers_are_defined_functions(agent):
    functions = defined_functions(agent)
    handlers = set(re.findall(r"run = \{ param\(\$a\) ([A-Za-z-]+) \$a \}", agent))
    assert len(handlers) == len(_channel.load_agent_files(AGENT_DIR).op_family)
    assert {h.lower() for h in handlers} <= functions


# ---- (f) what travels: the minified assembly -----------------------------------------------


def test_the_minified_assembly_parses_and_keeps_every_function(agent, sent):
    assert syntax_errors(sent) == []
    assert ps7_syntax(sent) == []
    assert forbidden_constructs(sent) == []
    assert defined_functions(sent) == defined_functions(agent)


@pytest.mark.parametrize("name", AGENT_FILES)
def test_nothing_in_the_agent_depends_on_line_layout(name):
    assert multiline_strings(read(name)) == []


@pytest.mark.parametrize("snippet", [
    "$s = 'one\ntwo'\n",
    '$s = "one\n  two"\n',
    "$s = @'\nx\n'@\n",
    "$x = Get-Thing -A 1 `\n    -B 2\n",
])
def test_layout_check_flags_bad_snippets(snippet):
    assert multiline_strings(snippet), snippet


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


# ---- acl family: what only the PowerShell side can get wrong (no Windows here) -------------
# (issue 6, item 3) The .NET behaviour these guard against is documented in acl.ps1's comments:
# CommonAcl merges rules that AddAccessRule adds into existing ones, throws InvalidOperationException
# when a non-canonical DACL is modified (RemoveAccessRule*, SetAccessRuleProtection on the read object),
# and GetAccessRules shows a callback ACE as a plain allow; NTAccount.Translate throws more than
# IdentityNotMappedException.

ACL_MERGING_CALLS = re.compile(
    r"\.(AddAccessRule|SetAccessRule|ResetAccessRule|RemoveAccessRule\w*|PurgeAccessRules|ModifyAccessRule|"
    r"AccessRuleFactory|GetAccessRules)\s*\(", re.IGNORECASE)


def acl_merging_calls(source: str) -> list[str]:
    code, _strings = split_code(source)
    return sorted({m.group(1) for m in ACL_MERGING_CALLS.finditer(code)})


def _function_body(source: str, name: str) -> str:
    start = source.index("function " + name + " {")
    end = source.find("\nfunction ", start + 1)
    return source[start:] if end < 0 else source[start:end]


def test_acl_family_builds_dacls_raw_and_never_merges_rules():
    source = read("acl.ps1")
    assert acl_merging_calls(source) == []
    code, _strings = split_code(source)
    for needed in ("RawSecurityDescriptor", "GetSecurityDescriptorBinaryForm", "SetSecurityDescriptorBinaryForm",
                   "CommonAce", "AreAccessRulesCanonical", "InsertAce"):
        assert needed in code, needed


def test_acl_merging_check_flags_bad_snippets():
    assert acl_merging_calls("$sec.AddAccessRule($rule)") == ["AddAccessRule"]
    assert acl_merging_calls("[void]$sec.RemoveAccessRuleSpecific($old)") == ["RemoveAccessRuleSpecific"]
    assert acl_merging_calls("$sec.GetAccessRules($true, $true, $t)") == ["GetAccessRules"]
    assert acl_merging_calls("# $sec.AddAccessRule($rule)\n$s = '.AddAccessRule('\n") == []


def test_acl_family_maps_the_sddl_flag_names_to_aceflags_bits():
    # System.Security.AccessControl.AceFlags: ObjectInherit 1, ContainerInherit 2, NoPropagateInherit 4, InheritOnly 8
    body = _function_body(read("acl.ps1"), "Get-AceFlagBit")
    found = dict(re.findall(r"\$Name -ceq '(\w\w)'\) \{ return (\d+) \}", body))
    assert found == {"OI": "1", "CI": "2", "NP": "4", "IO": "8"}


def test_acl_family_gives_lookup_failures_their_own_kind():
    body = _function_body(read("acl.ps1"), "Resolve-Sid")
    not_mapped = body.index("catch [System.Security.Principal.IdentityNotMappedException]")
    rest = body[not_mapped:]
    catch_all = re.search(r"\}\s*catch\s*\{", rest)
    assert catch_all, "a lookup failure other than 'not mapped' (a broken trust) must be caught"
    assert "Stop-Op 'identity_lookup_failed'" in rest[catch_all.end():]


# ---- fixes in the JSON writer, download and go (issue 6 item 3, issue 11) -----------------
# There is no Windows here: these read the agent text where only the PowerShell side can be wrong.
# The contract vectors named in each test are what the first real-host run checks.


def function_text(source: str, name: str) -> str:
    """The code of one function (comments and string contents blanked), found by the parser."""
    data = _dodge_lexer_quirks(source).encode("utf-8")
    tree = _PARSER.parse(data)
    for node in _walk(tree.root_node):
        if node.type == "function_statement":
            names = [c for c in node.children if c.type == "function_name"]
            if names and data[names[0].start_byte:names[0].end_byte].decode().lower() == name.lower():
                return split_code(data[node.start_byte:node.end_byte].decode("utf-8"))[0]
    raise AssertionError("no function %s" % name)


# PowerShell's match operators that fold case: -match, -notmatch, -imatch, -inotmatch (and the same
# for -like, -replace, -split): -cmatch / -cnotmatch are the case-sensitive ones.
_CASE_FOLDING_MATCH = re.compile(r"(?i)(?<![\w-])-(i?)(not)?(match|like|replace|split)\b")


def case_folding_operators(code: str) -> list[str]:
    return [m.group(0) for m in _CASE_FOLDING_MATCH.finditer(code)]


def test_the_json_writers_fast_path_is_case_sensitive():
    # With -notmatch, U+0130 and U+212A fold to 'i' and 'k', the fast path writes them raw and the
    # OEM code page mangles them (vector: registry 'registry.get returns dotted I, the Kelvin sign ...').
    code = function_text(read(_channel.CORE_FILE), "Add-JsonString")
    assert case_folding_operators(code) == []
    assert "-cnotmatch" in code.lower()
    # and the slow path escapes everything outside printable ASCII, lone surrogates included
    assert re.search(r"\$code\s+-gt\s+0x7E", code)


@pytest.mark.parametrize("snippet, found", [
    ("if ($t -notmatch '[^a]') {}", ["-notmatch"]),
    ("if ($t -match 'x') {}", ["-match"]),
    ("if ($t -inotmatch 'x') {}", ["-inotmatch"]),
    ("if ($t -cnotmatch 'x' -and $t -cmatch 'y') {}", []),
])
def test_case_folding_check_flags_bad_snippets(snippet, found):
    assert case_folding_operators(split_code(snippet)[0]) == found


def code_lines(source: str) -> list[str]:
    """The lines of a file that are not whole-line comments (strings kept)."""
    return [line for line in source.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_url_redaction_cuts_at_the_last_at_of_the_authority():
    # The old regex '^(scheme://)[^/@]*@' stopped at the first '@' and showed 'ss@host' for
    # 'u:p@ss@host' (vector: download 'file.download hides a password holding ...'). The agent finds
    # the end of the authority (first '/', '?' or '#') and the LAST '@' before it, in linear time.
    code = function_text(read("download.ps1"), "Get-RedactedUrl")
    assert "-replace" not in code.lower()
    assert re.search(r"\.IndexOfAny\(\s*\[char\[\]\]@\(\[char\]47, \[char\]63, \[char\]35\)", code)  # '/', '?', '#'
    assert re.search(r"\.LastIndexOf\(\s*\[char\]64\b", code)  # '@'


def test_an_http_url_is_checked_before_dest_is_touched():
    # An unparsable URL failed 'internal' in New-Object System.Uri after dest was deleted (vectors:
    # download 'file.download of an unparsable http URL ...'). TryCreate never throws; it runs first.
    source = read("download.ps1")
    assert "new-object system.uri" not in source.lower()
    converter = function_text(source, "ConvertTo-HttpUri")
    assert re.search(r"\[System\.Uri\]::TryCreate\(\(Get-RedactedUrl \$Url\), \[System\.UriKind\]::Absolute, \[ref\]\$uri\)", converter)
    body = function_text(source, "Invoke-OpFileDownload")
    checked = body.index("ConvertTo-HttpUri")
    for later in ("Test-DriveRoot", "Assert-NoFileAbove", "Find-LockedFile", "New-ParentFolders", "Remove-FileQuietly"):
        assert checked < body.index(later), later


def test_credentials_go_only_to_the_original_origin():
    # Issue 11: AllowAutoRedirect plus a CredentialCache with PreAuthenticate and a hand-made
    # Authorization header carried the credentials along a redirect to another origin. Redirects are
    # followed by hand and the header is added only while the origin is the original one (vectors:
    # download 'file.download sends no credentials to another origin ...', test_contract's
    # test_a_redirect_to_another_origin_gets_no_credentials on winsim).
    source = read("download.ps1")
    lines = code_lines(source)
    joined = "\n".join(lines)
    assert re.search(r"\.AllowAutoRedirect = \$false", joined)
    assert not re.search(r"(?i)AllowAutoRedirect\s*=\s*\$true", joined)
    for gone in ("PreAuthenticate", "CredentialCache", ".Credentials", "NetworkCredential", "UseDefaultCredentials"):
        assert gone.lower() not in joined.lower(), gone
    adds = [line for line in lines if "'Authorization'" in line]
    assert adds and all(re.search(r"\(Get-UriOrigin \$current\) -ceq \$origin\) \{ \$req\.Headers\.Add\('Authorization'", line) for line in adds)
    follow = function_text(source, "Get-HttpResponse")
    assert "$hops -gt 10" in follow
    assert "$next.Scheme -ceq" in follow and "$Uri.Scheme -ceq" in follow  # https -> http refused unless the original was http


def test_go_run_ends_the_whole_process_tree_on_timeout():
    # Process.Kill() ended only go.exe and left compile/link running; .NET Framework has no
    # Kill(entireProcessTree). taskkill.exe /T /F with the integer PID as its only variable part.
    source = read("go.ps1")
    run = function_text(source, "Invoke-OpGoRun")
    timeout_branch = run[run.index("if (-not $proc.WaitForExit("):]
    timeout_branch = timeout_branch[:timeout_branch.index("Stop-Op")]
    assert "Stop-ProcessTree $proc" in timeout_branch and ".Kill()" not in timeout_branch
    lines = code_lines(source)
    assert "$psi.Arguments = '/T /F /PID ' + ([int]$Proc.Id).ToString([System.Globalization.CultureInfo]::InvariantCulture)" in [
        line.strip() for line in lines]
    assert "$taskkill = [System.IO.Path]::Combine([System.Environment]::SystemDirectory, 'taskkill.exe')" in [line.strip() for line in lines]
    tree = function_text(source, "Stop-ProcessTree")
    assert "$psi.UseShellExecute = $false" in tree
    assert "$psi.RedirectStandardOutput = $true" in tree and "$psi.RedirectStandardError = $true" in tree  # never our stdout
    assert "$OpArgs" not in tree  # nothing of the request reaches the command line


def test_go_run_without_cwd_runs_in_system32():
    # An empty WorkingDirectory inherits the agent's host process's folder (vectors: go 'go.run mod
    # init without cwd runs in System32', 'go.run build without cwd ...' show winsim's twin of it).
    run = function_text(read("go.ps1"), "Invoke-OpGoRun")
    assert "if ($null -eq $cwd) { $cwd = [System.Environment]::SystemDirectory }" in run
    assert re.search(r"^\s*\$psi\.WorkingDirectory = \$cwd$", run, re.M)
    assert "cwd = $cwd }" in run  # returned in data


# ---- the watchdog launcher: the one PowerShell file that is not an agent family ----------

LAUNCHER = os.path.join(ROOT, "plugins", "plugin_utils", "_watchdog", "watchdog.ps1")


def _launcher() -> str:
    with open(LAUNCHER, encoding="utf-8") as handle:
        return handle.read()


def test_watchdog_launcher_parses_as_ps51_and_turns_no_data_into_code():
    source = _launcher()
    assert syntax_errors(source) == []
    assert ps7_syntax(source) == []
    # The agent's rule allows '&' only on a scriptblock or a function of the file: the launcher's one call is
    # the agent file beside it (the next test pins what that call is).
    found = forbidden_constructs(source)
    assert [f for f in found if "'& $agent'" not in f] == [], found
    assert len(found) == 1, found


def test_watchdog_launcher_runs_only_the_agent_beside_it_with_one_watchdog_tick():
    """The settings path is the launcher's only input: it reaches the agent as a JSON string value built by
    JavaScriptSerializer, and the only thing the launcher invokes is agent.ps1 in its own folder."""
    code = _launcher()
    calls = re.findall(r"&\s*(\$\w+)", code)
    assert calls == ["$agent"], calls
    assert "$agent = Join-Path $here 'agent.ps1'" in code
    assert "$here = Split-Path -Parent $MyInvocation.MyCommand.Path" in code
    assert "op = 'watchdog.tick'; args = @{ settings = $Settings }" in code
    assert re.search(r"(?i)\bparam\(\[string\]\$Settings\)", code)

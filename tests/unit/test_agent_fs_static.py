# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Static checks of the agent's fs, tree and write families for defects a desk review found.

What these families do on a real Windows host cannot run here (no PowerShell): the contract
vectors check the behaviour on winsim and, when a host is configured, on Windows. These tests
read the PowerShell (parsed with tree-sitter, as test_agent_static does) for the shape of each
fix, so that the defect cannot come back unnoticed before the first real-host run:

- the in-use probe shares read, write and delete and retries for about a second (a reader that
  shares everything, such as antivirus right after zip.extract, must not fail path.move);
- path.remove walks its tree once; path.move renames a folder without walking it first;
- a junction whose target is gone is followed (dir.ensure, and the parents file.write creates);
- file.write clears a read-only attribute for File.Replace, sets it again, and reports a backup
  it could not delete.
"""

from __future__ import annotations

import os
import re

import pytest

from test_agent_static import AGENT_DIR, _PARSER, _dodge_lexer_quirks, _walk

CALL = re.compile(r"(?<![\w$.-])([A-Z][a-z]+-[A-Za-z]+)\b")


def functions(family: str) -> dict[str, str]:
    """name -> body text of each function a family file defines."""
    with open(os.path.join(AGENT_DIR, family + ".ps1"), encoding="utf-8") as handle:
        data = _dodge_lexer_quirks(handle.read()).encode("utf-8")
    found = {}
    for node in _walk(_PARSER.parse(data).root_node):
        if node.type == "function_statement":
            name = next(c for c in node.children if c.type == "function_name")
            body = next(c for c in node.children if c.type == "script_block")
            found[data[name.start_byte:name.end_byte].decode()] = data[body.start_byte:body.end_byte].decode()
    return found


def agent_functions() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in sorted(os.listdir(AGENT_DIR)):
        if name.endswith(".ps1"):
            found.update(functions(name[:-4]))
    return found


FUNCS = agent_functions()


def calls(name: str) -> set[str]:
    return {c for c in CALL.findall(FUNCS[name]) if c in FUNCS and c != name}


def reachable(name: str) -> set[str]:
    seen, todo = {name}, [name]
    while todo:
        for callee in calls(todo.pop()):
            if callee not in seen:
                seen.add(callee)
                todo.append(callee)
    return seen


def tree_walkers(names: set[str]) -> set[str]:
    """Functions that walk a folder tree: they list a folder and call themselves."""
    return {
        n for n in names
        if "GetFileSystemInfos(" in FUNCS[n] and re.search(r"(?<![\w-])%s\b" % re.escape(n), FUNCS[n])
    }


def test_function_reader_finds_bodies():
    assert "Invoke-OpPathRemove" in FUNCS and "Get-PathArg" in FUNCS["Invoke-OpPathRemove"]
    assert "Get-PathInfo" in reachable("Invoke-OpPathRemove")


def test_the_in_use_probe_shares_read_write_and_delete():
    probes = [n for n, body in FUNCS.items() if "FileStream]::new(" in body and "FileSystemRights]" in body]
    assert probes == ["Test-OpenForChange"], "no in-use probe found"
    body = FUNCS["Test-OpenForChange"]
    assert "FileShare]::None" not in body and "$script:ShareAll" in body
    # Write AND delete access: a handle that shares writing but not deleting also blocks the change.
    assert "FileSystemRights]'WriteData, Delete'" in body
    tree = open(os.path.join(AGENT_DIR, "tree.ps1"), encoding="utf-8").read()
    assert "FileShare]::None" not in tree


def test_the_in_use_probe_sees_read_only_files():
    """Windows refuses write access to a read-only file before it looks at sharing: a probe that
    takes UnauthorizedAccess as 'not in use' never sees a running read-only program."""
    body = FUNCS["Test-FileInUse"]
    clear, probe, restore = (body.index("Clear-ReadOnly $Info"), body.index("Test-OpenForChange $Path"),
                             body.index("Set-ReadOnly $Path"))
    assert clear < probe < restore and "finally" in body[probe:restore]


def test_the_in_use_probe_retries_for_about_a_second():
    tree = open(os.path.join(AGENT_DIR, "tree.ps1"), encoding="utf-8").read()
    tries = int(re.search(r"\$script:LockProbeTries = (\d+)", tree).group(1))
    delay = int(re.search(r"\$script:LockProbeDelayMs = (\d+)", tree).group(1))
    assert tries >= 2 and 500 <= (tries - 1) * delay <= 2000
    body = FUNCS["Test-OpenForChange"]
    assert "for (" in body and "Start-Sleep -Milliseconds $script:LockProbeDelayMs" in body
    # Only a sharing or lock violation is retried; other failures answer at once.
    assert "0x20" in body and "0x21" in body


def test_the_removal_walk_takes_links_as_links_before_probing():
    """A symbolic link to a file is a FileInfo too: it must be listed as a link, not probed (the probe
    would open what it points to). Other reparse points on files (deduplicated files, cloud
    placeholders) are files and must be probed: a running program on a deduplicated volume is one."""
    body = FUNCS["Get-RemovalList"]
    assert body.index("Test-IsLinkItem $Info") < body.index("-is [System.IO.FileInfo]") < body.index("Test-FileInUse")
    assert "Test-IsReparsePoint" not in body
    link = FUNCS["Test-IsLinkItem"]
    assert ".LinkType -eq 'SymbolicLink'" in link and "catch { return $false }" in link


def test_value_returning_helpers_never_reach_the_pipeline():
    """Clear-ReadOnly returns whether it cleared the attribute: a caller that neither assigns nor voids
    it would put a bool into the op's output."""
    for name, body in FUNCS.items():
        for line in body.splitlines():
            if re.search(r"(?<![\w-])Clear-ReadOnly\b", line) and name != "Clear-ReadOnly":
                assert re.search(r"(=\s*|\[void\]\()Clear-ReadOnly", line), "%s: %s" % (name, line.strip())


def test_read_only_is_cleared_and_set_by_the_shared_helpers():
    body = FUNCS["Test-FileInUse"]
    assert "Clear-ReadOnly $Info" in body and "Set-ReadOnly $Path" in body and "SetAttributes" not in body
    assert "FileAttributes]::Normal" in FUNCS["Clear-ReadOnly"]


def test_dangling_links_are_resolved_only_to_drive_paths_and_never_for_unc():
    body = FUNCS["Resolve-DanglingLink"]
    assert "$Path.StartsWith('\\\\')) { return $Path }" in body
    assert "$target -notmatch '^[A-Za-z]:\\\\'" in body


@pytest.mark.parametrize("op", ["Invoke-OpFileWrite", "Invoke-OpFileDownload"])
def test_parent_checks_look_through_a_dangling_junction(op):
    body = FUNCS[op]
    at = body.index("Resolve-DanglingLink")
    assert at < body.index("Test-DriveRoot $resolved") and at < body.index("Assert-NoFileAbove $resolved")
    # The parents are created from the path resolved once, not resolved again.
    assert "New-ParentFolders $resolved" in body and body.count("Resolve-DanglingLink") == 1


def test_folder_move_reports_a_failed_walk_as_the_rename_error_and_undoes_a_case_rename():
    mover = FUNCS["Move-Folder"]
    assert re.search(r"try \{ \$locked = Find-LockedFile \$Src \} catch", mover)
    move = FUNCS["Invoke-OpPathMove"]
    case = move[move.index("if ($same) {"):move.index("} elseif ($isFolder)")]
    undo = case[case.index("catch"):]
    assert "Move-PathItem $info $temp $src" in undo
    # When putting it back fails too, the error says where src is now.
    assert "' is now ' + $temp" in undo[undo.index("Move-PathItem $info $temp $src"):]


@pytest.mark.parametrize("op", ["Invoke-OpPathRemove", "Invoke-OpFileWrite", "Invoke-OpFileDownload"])
def test_ops_walk_a_tree_at_most_once(op):
    if op not in FUNCS:
        pytest.skip("%s is not in the agent" % op)
    walkers = tree_walkers(reachable(op))
    assert len(walkers) <= 1, "%s walks the tree more than once: %s" % (op, sorted(walkers))


def test_path_remove_probes_and_deletes_from_one_walk():
    body = FUNCS["Invoke-OpPathRemove"]
    assert tree_walkers(reachable("Invoke-OpPathRemove")) == {"Get-RemovalList"}
    # Everything is probed before the first delete: the walk's list is deleted after it.
    assert body.index("Get-RemovalList") < body.index("Remove-ListedItems")
    assert "GetFileSystemInfos" not in FUNCS["Remove-ListedItems"]


def test_folder_move_renames_before_any_walk():
    body = FUNCS["Invoke-OpPathMove"]
    assert "Find-LockedFile" not in body, "path.move walks the folder before renaming it"
    mover = FUNCS["Move-Folder"]
    assert mover.index("Move-PathItem") < mover.index("Find-LockedFile")


def test_dangling_junctions_are_followed_where_folders_are_created():
    assert "Resolve-DanglingLink" in calls("Invoke-OpDirEnsure")
    ensure = FUNCS["Invoke-OpDirEnsure"]
    assert ensure.index("Resolve-DanglingLink") < ensure.index("Directory]::Exists")
    assert "Resolve-DanglingLink" in calls("New-ParentFolders")
    resolve = FUNCS["Resolve-DanglingLink"]
    assert "Get-JunctionTarget" in resolve and "$script:MaxJunctionHops" in resolve


def test_junction_hop_limit_matches_winsim():
    from ansible_collections.gowin.server.plugins.plugin_utils._winsim import host

    tree = open(os.path.join(AGENT_DIR, "tree.ps1"), encoding="utf-8").read()
    assert int(re.search(r"\$script:MaxJunctionHops = (\d+)", tree).group(1)) == host.MAX_JUNCTION_HOPS


def test_file_write_keeps_a_read_only_file_read_only():
    body = FUNCS["Invoke-OpFileWrite"]
    assert body.index("Clear-ReadOnly $info") < body.index("File]::Replace(") < body.index("Set-ReadOnly $dest")
    # On failure the attribute is put back on the file that is still there.
    catch = body[body.index("    } catch {"):]
    assert "Set-ReadOnly $dest" in catch


def test_file_write_never_leaves_a_backup_silently():
    body = FUNCS["Invoke-OpFileWrite"]
    success = body[body.index("File]::Replace("):body.index("    } catch {")]
    assert "Remove-FileQuietly $backup" in success and "backup_left" in success
    # Once the new content is in place, resetting the attribute cannot fail the op.
    assert "try { Set-ReadOnly $dest } catch { $result['readonly_lost'] = $true }" in success
    catch = body[body.index("    } catch {"):]
    assert "Remove-FileQuietly $backup" in catch and "the old content is kept in" in catch


# ---- zip.extract (issue 6 item 3) -----------------------------------------------------------


def _loop_body(text: str, header: str) -> str:
    """The text of the first `foreach (...)` block whose header holds `header`."""
    at = text.index(header)
    start = text.index("{", at)
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i + 1]
    raise AssertionError("unbalanced block after %r" % header)


def test_zip_opens_archives_with_cp437_names() -> None:
    """Names without the UTF-8 flag are CP437 (the zip specification), not the host's ANSI code page,
    which is what ZipFile.OpenRead would use on .NET Framework."""
    body = FUNCS["Open-ZipArchive"]
    assert "OpenRead" not in body
    assert re.search(r"ZipFile\]::Open\(\$Path, \[System\.IO\.Compression\.ZipArchiveMode\]::Read,\s*"
                     r"\[System\.Text\.Encoding\]::GetEncoding\(437\)\)", body), body


def test_zip_copy_loop_allocates_no_buffer_and_checks_size_then_crc() -> None:
    body = FUNCS["Invoke-OpZipExtract"]
    loop = _loop_body(body, "foreach ($step in $plan)")
    assert "New-Object byte[]" not in loop, "one copy buffer per op, not one per entry"
    assert "New-Object byte[] 1048576" in body
    assert loop.index("$entry.Length") < loop.index("Bad CRC-32"), "the size is checked before the CRC-32"
    assert "$crc.update.Invoke" in loop and "$crc.stored.GetValue($entry)" in loop


def test_zip_crc_helpers_are_self_tested() -> None:
    """The reflection targets are internal to .NET Framework: the op must prove them on a known value
    (CRC-32 of '123456789' is 0xCBF43926) before trusting them, and fall back to no CRC, not fail."""
    body = FUNCS["Get-ZipCrc"]
    assert "'123456789'" in body and str(0xCBF43926) in body
    assert "'_crc32'" in body and "'UpdateCrc32'" in body
    assert re.search(r"catch \{ return \$null \}", body)


def test_zip_plan_checks_each_name_once_and_reparses_no_path() -> None:
    loop = _loop_body(FUNCS["Get-ZipPlan"], "foreach ($entry in $Archive.Entries)")
    assert "Get-PathInfo" not in loop, "Get-PathInfo throws for a path that does not exist"
    assert re.search(r"if \(\$target\.Length -ge 260\) \{ \$target = ConvertTo-AgentPath", loop)
    assert loop.count("= ConvertTo-AgentPath") == 1
    assert "$checkedNames.TryGetValue($comp" in loop

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prepare this machine and a copy of the collection for ``ansible-test``.

Two jobs, both idempotent:

1. The pip bootstrap stand-in. ``ansible-test sanity --requirements`` creates an empty virtual
   environment per sanity test and bootstraps pip into it with ``get-pip.py``, which it downloads
   from a host CI cannot reach, unless the script is already in its cache
   (``~/.ansible/test/cache/get_pip_<pip version with . as _>.py``). The version it wants is read
   from the installed ansible-test (so a bumped ansible-core keeps working), and a tiny script is
   written there that installs the pip wheel bundled with CPython (``ensurepip``): no network, and
   nothing is upgraded. The requirements of each sanity test are still installed from the package
   index by that pip.

2. With ``--copy-to DIR``: mirror the files git knows about (tracked and untracked-not-ignored)
   into ``DIR``, which must end in ``ansible_collections/<namespace>/<name>``. ansible-test needs its
   real working directory to be such a path and ``os.getcwd()`` resolves symlinks, so the collection
   is copied, not linked. Files in ``DIR`` that are no longer in the source are deleted (``.git`` and
   ``tests/output`` there are kept). ``DIR`` gets its own empty git repository, because ansible-test
   lists content with ``git ls-files`` from the nearest ``.git`` upwards and the copy lives inside
   this (git-ignored) work tree.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import shutil
import subprocess
import sys

STANDIN_MARKER = "gowin.server ansible-test get-pip stand-in"

STANDIN = '''\
# {marker} (written by tools/ansible_test_prep.py)
# ansible-test runs this in place of get-pip.py {version} to put pip into an empty virtual
# environment. It installs the pip wheel bundled with this CPython (ensurepip): no network,
# no upgrade. The arguments ansible-test passes (pip=={version}, --no-setuptools, ...) are ignored.
import ensurepip
import sys

sys.argv[1:] = []
ensurepip.bootstrap(upgrade=False, default_pip=True, verbosity=0)
'''


def wanted_pip_version() -> str:
    """Return the pip version the installed ansible-test bootstraps into its virtual environments."""
    try:
        from ansible_test._internal import python_requirements as pr  # type: ignore[import-not-found]

        class _Python:  # get_venv_packages only reads .version
            version = "%d.%d" % sys.version_info[:2]

        return pr.get_venv_packages(_Python())["pip"]  # type: ignore[arg-type]
    except Exception:  # pylint: disable=broad-except
        pass
    # Fallback: read it from the source, in case the internal API moved.
    import ansible_test  # type: ignore[import-not-found]

    path = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
    with open(path, encoding="utf-8") as handle:
        match = re.search(r"""\bpip\s*=\s*['"]([0-9][^'"]*)['"]""", handle.read())
    if not match:
        raise SystemExit("ansible_test_prep: cannot find the pip version ansible-test wants in " + path)
    return match.group(1)


def write_standin() -> str:
    version = wanted_pip_version()
    cache_dir = os.path.expanduser("~/.ansible/test/cache")
    path = os.path.join(cache_dir, "get_pip_%s.py" % version.replace(".", "_"))
    text = STANDIN.format(marker=STANDIN_MARKER, version=version)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            current = handle.read()
        if current == text:
            return path
        if STANDIN_MARKER not in current:
            # A real get-pip.py someone put there by hand: leave it alone.
            print("ansible_test_prep: keeping existing %s" % path)
            return path
    os.makedirs(cache_dir, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
    print("ansible_test_prep: wrote pip %s bootstrap stand-in %s" % (version, path))
    return path


def source_files(src: str) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=src, check=True, stdout=subprocess.PIPE,
    ).stdout.decode("utf-8")
    files = []
    for rel in sorted(set(filter(None, out.split("\0")))):
        full = os.path.join(src, rel)
        if os.path.lexists(full) and not os.path.isdir(full):  # skip deleted files and submodules
            files.append(rel)
    return files


def _kept(rel: str) -> bool:
    top = rel.split(os.sep, 2)
    return top[0] == ".git" or top[:2] == ["tests", "output"]


def copy_tree(src: str, dest: str) -> None:
    parts = os.path.abspath(dest).split(os.sep)
    if len(parts) < 4 or parts[-3] != "ansible_collections":
        raise SystemExit("ansible_test_prep: --copy-to must end in ansible_collections/NAMESPACE/NAME: " + dest)
    os.makedirs(dest, exist_ok=True)
    wanted = source_files(src)
    wanted_set = set(wanted)

    # delete stale files, then empty directories
    for root, dirs, files in os.walk(dest, topdown=True):
        rel_root = os.path.relpath(root, dest)
        rel_root = "" if rel_root == "." else rel_root
        dirs[:] = [d for d in dirs if not _kept(os.path.join(rel_root, d))]
        for name in files:
            rel = os.path.join(rel_root, name)
            if rel not in wanted_set:
                os.unlink(os.path.join(root, name))
        for name in list(dirs):  # symlinks to directories show up in dirs
            full = os.path.join(root, name)
            if os.path.islink(full) and os.path.join(rel_root, name) not in wanted_set:
                os.unlink(full)
                dirs.remove(name)
    for root, dirs, files in os.walk(dest, topdown=False):
        rel_root = os.path.relpath(root, dest)
        if rel_root != "." and not _kept(rel_root) and not os.listdir(root):
            os.rmdir(root)

    copied = 0
    for rel in wanted:
        s, d = os.path.join(src, rel), os.path.join(dest, rel)
        if os.path.islink(s):
            target = os.readlink(s)
            if os.path.islink(d) and os.readlink(d) == target:
                continue
            if os.path.lexists(d):
                os.unlink(d)
            os.makedirs(os.path.dirname(d), exist_ok=True)
            os.symlink(target, d)
            copied += 1
            continue
        if os.path.lexists(d) and not os.path.islink(d) and filecmp.cmp(s, d, shallow=False):
            shutil.copymode(s, d)
            continue
        if os.path.lexists(d):
            os.unlink(d)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        shutil.copy2(s, d)
        copied += 1

    if not os.path.isdir(os.path.join(dest, ".git")):
        subprocess.run(["git", "init", "-q", dest], check=True)
    print("ansible_test_prep: %s holds %d files (%d copied)" % (dest, len(wanted), copied))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copy-to", metavar="DIR", help="mirror the collection into DIR (…/ansible_collections/NS/NAME)")
    parser.add_argument("--source", default=os.getcwd(), help="collection root to copy (default: the current directory)")
    args = parser.parse_args()
    write_standin()
    if args.copy_to:
        copy_tree(os.path.abspath(args.source), os.path.abspath(args.copy_to))


if __name__ == "__main__":
    main()

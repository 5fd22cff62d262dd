# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared by all tests: the repository is importable as ``ansible_collections.gowin.server``.

``<repo>/.tmp/collections/ansible_collections/gowin/server`` is a symlink to the repository root
(the same relative link ``make collection`` makes), and ``<repo>/.tmp/collections`` is on
``sys.path`` and on Ansible's collection search path, so plain imports and plugin loading by FQCN
(``gowin.server.winsim``) both find this checkout.

It also offers ``win_files``: builders for the Windows file fixtures the tests need (PE images,
zip archives), kept in one place.
"""

from __future__ import annotations

import io
import os
import struct
import sys
import types
import zipfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(REPO, ".tmp", "collections")


def _link_collection() -> None:
    namespace = os.path.join(COLLECTIONS, "ansible_collections", "gowin")
    link = os.path.join(namespace, "server")
    os.makedirs(namespace, exist_ok=True)
    if os.path.realpath(link) == REPO:
        return
    if os.path.islink(link):
        os.unlink(link)
    try:
        os.symlink(os.path.join("..", "..", "..", ".."), link)
    except FileExistsError:  # another test process made it at the same moment
        pass
    if os.path.realpath(link) != REPO:
        raise RuntimeError("%s exists and does not point to %s; remove it" % (link, REPO))


_link_collection()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible.plugins.loader import init_plugin_loader  # noqa: E402  (after the link exists)

init_plugin_loader([COLLECTIONS])

PE_MACHINE_CODES = {"amd64": 0x8664, "arm64": 0xAA64, "386": 0x14C, "unknown": 0x1C4}


def pe_image(machine: str) -> bytes:
    """The start of a PE image for `machine` (a key of PE_MACHINE_CODES): MZ, e_lfanew at 0x3C, 'PE\\0\\0', machine."""
    image = bytearray(0x200)
    image[0:2] = b"MZ"
    struct.pack_into("<I", image, 0x3C, 0x80)
    image[0x80:0x84] = b"PE\0\0"
    struct.pack_into("<H", image, 0x84, PE_MACHINE_CODES[machine])
    return bytes(image)


def zip_bytes(entries: dict[str, bytes | None]) -> bytes:
    """A zip archive: name -> content, or None for a folder entry (name ending in /)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 6, 27, 20, 11, 12))
            info.compress_type = zipfile.ZIP_DEFLATED
            if content is None:
                info.external_attr = 0o40755 << 16 | 0x10
                archive.writestr(info, b"")
            else:
                archive.writestr(info, content)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def win_files() -> types.SimpleNamespace:
    return types.SimpleNamespace(pe_image=pe_image, zip_bytes=zip_bytes)

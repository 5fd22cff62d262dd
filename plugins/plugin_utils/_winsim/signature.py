# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'signature' (plugins/plugin_utils/_agent/signature.ps1):
signature.get. The signature is read from the file's bytes: the PE certificate table (data directory 4)
holds a WIN_CERTIFICATE whose PKCS#7 SignedData carries the certificates and, in its
SpcIndirectDataContent, the Authenticode digest of the image. The model computes that digest (SHA-256
or SHA-1: the image without its CheckSum field, its certificate-table entry and the table itself, padded
to 8 bytes) and looks for it in the signature; it does not verify the PKCS#7 signature itself. Trust
comes from the host's state: a chain is trusted when its root's thumbprint was given to
trust_certificate() (the stand-in for the Trusted Root store). Vectors: tests/contract/vectors/signature.yml.
"""

from __future__ import annotations

import hashlib
import struct

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import Args, JsonDict, OpFailure, _op

UNTRUSTED = ("A certificate chain processed, but terminated in a root certificate which is not trusted by the trust "
             "provider.")
MESSAGES = {
    "Valid": "Signature verified.",
    "NotSigned": "The file is not digitally signed. You cannot run this script on the current system.",
    "HashMismatch": "The contents of the file may have been tampered because the hash of the file does not match the hash "
                    "stored in the digital signature.",
    "NotSupportedFileFormat": "The format of the file is not recognized as one that can be signed.",
}


def _signature_parts(data: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(SHA-256 digest, SHA-1 digest, PKCS#7 bytes) of a signed PE image; None when it has no signature.
    ValueError when `data` is no PE image."""
    if len(data) < 0x40 or data[:2] != b"MZ":
        raise ValueError("not a PE image")
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    if data[pe:pe + 4] != b"PE\0\0":
        raise ValueError("not a PE image")
    opt = pe + 24
    magic = struct.unpack_from("<H", data, opt)[0]
    directories = opt + (96 if magic == 0x10B else 112)
    checksum, entry = opt + 64, directories + 4 * 8
    if entry + 8 > len(data):
        return None
    offset, size = struct.unpack_from("<II", data, entry)
    if not offset or not size or offset + size > len(data) or size < 8:
        return None
    end = offset
    digests = []
    for algorithm in (hashlib.sha256, hashlib.sha1):
        h = algorithm()
        h.update(data[:checksum])
        h.update(data[checksum + 4:entry])
        h.update(data[entry + 8:end])
        if end % 8:
            h.update(b"\0" * (8 - end % 8))
        digests.append(h.digest())
    length = struct.unpack_from("<I", data, offset)[0]
    return digests[0], digests[1], _der(data[offset + 8:offset + min(length, size)])


def _der(blob: bytes) -> bytes:
    """The outer DER SEQUENCE of `blob` (WIN_CERTIFICATE pads its PKCS#7 to 8 bytes)."""
    if len(blob) < 2 or blob[0] != 0x30:
        return blob
    if blob[1] < 0x80:
        return blob[:2 + blob[1]]
    count = blob[1] & 0x7F
    return blob[:2 + count + int.from_bytes(blob[2:2 + count], "big")]


def _certificates(pkcs7: bytes) -> list:
    from cryptography.hazmat.primitives.serialization import pkcs7 as _pkcs7  # ansible-core requires cryptography

    try:
        return list(_pkcs7.load_der_pkcs7_certificates(pkcs7))
    except ValueError:
        return []


def _facts(cert) -> JsonDict:
    from cryptography.hazmat.primitives import serialization

    def name(n) -> str:
        # Windows' X500 order: most specific first, "CN=..., O=..."
        return ", ".join(attr.rfc4514_string() for attr in reversed(list(n)))
    after = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after
    return {"thumbprint": hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper(),
            "subject": name(cert.subject), "issuer": name(cert.issuer), "not_after": after.strftime("%Y-%m-%dT%H:%M:%SZ")}


class SignatureOps:
    """The signature ops of WinSimHost (a mixin over host.HostBase)."""

    @_op("signature.get", "path")
    def _signature_get(self, a: Args) -> JsonDict:
        path = a.path("path")
        node = self.resolve(path)
        if not node.exists:
            return {"exists": False, "status": None, "status_message": None, "signer": None, "timestamped": False}
        if node.kind != "file":
            raise OpFailure("bad_args", "argument 'path' must name a file; %s is a folder" % path)
        with open(node.host_path, "rb") as handle:
            data = handle.read()
        try:
            parts = _signature_parts(data)
        except ValueError:
            return {"exists": True, "status": "NotSupportedFileFormat", "status_message": MESSAGES["NotSupportedFileFormat"],
                    "signer": None, "timestamped": False}
        if parts is None:
            return {"exists": True, "status": "NotSigned", "status_message": MESSAGES["NotSigned"], "signer": None,
                    "timestamped": False}
        sha256, sha1, pkcs7 = parts
        certs = _certificates(pkcs7)
        issuers = {c.issuer for c in certs}
        leaves = [c for c in certs if c.subject not in issuers or c.subject == c.issuer]
        signer = _facts(leaves[0]) if leaves else None
        if sha256 not in pkcs7 and sha1 not in pkcs7:
            status = "HashMismatch"
        else:
            roots = [c for c in certs if c.subject == c.issuer]
            trusted = {t.upper() for t in self._state.get("trusted_roots", [])}
            status = "Valid" if any(_facts(r)["thumbprint"] in trusted for r in roots) else "UnknownError"
        return {"exists": True, "status": status, "status_message": MESSAGES.get(status, UNTRUSTED), "signer": signer,
                "timestamped": False}

    # ---- test and bench API -----------------------------------------------------------------

    def trust_certificate(self, thumbprint: str, trusted: bool = True) -> None:
        """Put a root certificate (by SHA-1 thumbprint) in, or take it out of, the host's Trusted Root store."""
        with self._transaction() as state:
            kept = [t for t in state.setdefault("trusted_roots", []) if t.upper() != thumbprint.upper()]
            state["trusted_roots"] = kept + ([thumbprint.upper()] if trusted else [])

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'firewall' (plugins/plugin_utils/_agent/firewall.ps1):
firewall.get, firewall.set, firewall.remove. The rule store is state["firewall"] (name -> rule), kept
as Windows reports rules: remote IPv4 subnets in mask form (10.0.0.0/8 -> 10.0.0.0/255.0.0.0), a
single-address prefix as the bare address, keywords in Windows' spelling. The baseline (host.py)
holds WinRM's HTTP rule, as a new Windows Server does. Vectors: tests/contract/vectors/firewall.yml.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import Args, JsonDict, _op

KEYWORDS = {k.lower(): k for k in ("LocalSubnet", "DNS", "DHCP", "WINS", "DefaultGateway", "Internet", "Intranet",
                                   "IntranetRemoteAccess", "PlayToDevice", "Any")}
PROFILES = ("any", "domain", "private", "public")
_PORT = re.compile(r"^([0-9]{1,5})(-([0-9]{1,5}))?$")
_ADDRESS = re.compile(r"^[A-Za-z0-9.:/\-]+$")
FIELDS = ("name", "display_name", "description", "direction", "action", "enabled", "protocol", "local_ports",
          "remote_addresses", "profiles", "program", "service")


def _name(a: Args) -> str:
    name = a.need_text("name")
    if len(name) > 255:
        a.fail("name", "must be at most 255 characters, got %d" % len(name))
    if any(c in name for c in "*?[]|"):
        a.fail("name", "must not contain * ? [ ] or | (the firewall cmdlets read them as patterns)")
    if any(ord(c) < 32 for c in name):
        a.fail("name", "must not contain control characters")
    return name


def windows_address(text: str) -> str:
    """A remote address as Windows reports it back."""
    keyword = KEYWORDS.get(text.lower())
    if keyword is not None:
        return keyword
    if "/" in text:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return text
        if net.prefixlen == net.max_prefixlen:
            return str(net.network_address)
        if net.version == 4:
            return "%s/%s" % (net.network_address, net.netmask)
        return str(net)
    return text


class FirewallOps:
    """The firewall ops of WinSimHost (a mixin over host.HostBase)."""

    def _rules(self) -> JsonDict:
        return self._state.setdefault("firewall", {})

    def _rule_info(self, name: str) -> JsonDict:
        rule = self._rules().get(name.lower())
        return {"exists": False} if rule is None else dict({"exists": True}, **rule)

    @_op("firewall.get", "name")
    def _firewall_get(self, a: Args) -> JsonDict:
        return self._rule_info(_name(a))

    @_op("firewall.set", *FIELDS)
    def _firewall_set(self, a: Args) -> JsonDict:
        name = _name(a)
        display = a.text("display_name") or name
        description = a.text("description", empty=True) or ""
        direction = a.text("direction", ("inbound", "outbound")) or "inbound"
        action = a.text("action", ("allow", "block")) or "allow"
        enabled = a.flag("enabled", True)
        protocol = a.text("protocol", ("tcp", "udp", "any")) or "tcp"
        ports = a.strings("local_ports", [])
        addresses = a.strings("remote_addresses", [])
        profiles = a.strings("profiles", [])
        program = a.text("program")
        service = a.text("service")
        for port in ports:
            m = _PORT.match(port)
            good = m is not None and 1 <= int(m.group(1)) <= 65535
            if good and m.group(3):
                good = int(m.group(1)) <= int(m.group(3)) <= 65535
            if not good:
                a.fail("local_ports", "must be ports 1 to 65535 or ranges such as 8000-8080")
        if ports and protocol == "any":
            a.fail("local_ports", "needs protocol tcp or udp")
        for address in addresses:
            if not address or len(address) > 100 or not _ADDRESS.match(address):
                a.fail("remote_addresses", "must be addresses, subnets (a.b.c.d/n), ranges (a-b) or keywords such as LocalSubnet")
        for profile in profiles:
            if profile not in PROFILES:
                a.fail("profiles", "must be any, domain, private or public")
        for arg, value in (("display_name", display), ("description", description), ("program", program), ("service", service)):
            if value is not None and "\0" in value:
                a.fail(arg, "must not contain NUL")
        if program is not None:
            program = str(a.path("program"))
        rules = self._rules()
        existing = rules.get(name.lower())
        chosen = [p for p in PROFILES[1:] if p in profiles]
        rules[name.lower()] = {
            "name": existing["name"] if existing else name, "display_name": display, "description": description or None,
            "direction": direction, "action": action, "enabled": enabled, "protocol": protocol, "local_ports": list(ports),
            "remote_addresses": [windows_address(x) for x in addresses if x.lower() != "any"],
            "profiles": ["any"] if not chosen or "any" in profiles else chosen, "program": program, "service": service,
        }
        return dict(self._rule_info(name), changed=True, created=existing is None)

    @_op("firewall.remove", "name")
    def _firewall_remove(self, a: Args) -> JsonDict:
        name = _name(a)
        return {"changed": self._rules().pop(name.lower(), None) is not None}

"""The udev rule that names the M-Bus adapter /dev/hanport: valid syntax (`udevadm verify`
where systemd ≥ 254 has it; Debian 12's udev has not, so the rule is also parsed here) and it
matches every adapter its header documents, and nothing else."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from services.paths import REPO_ROOT

RULES = REPO_ROOT / "packaging" / "udev" / "99-hanport.rules"
# KEY or KEY{attribute}, operator, "value": udev(7)'s rule syntax, the keys this file may use.
PAIR = re.compile(r'\s*([A-Z]+)(?:\{([A-Za-z0-9_.-]+)\})?\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"\s*')
MATCHING = {"==", "!="}
MATCH_KEYS = {"ACTION", "SUBSYSTEM", "SUBSYSTEMS", "KERNEL", "ATTRS", "ENV", "DRIVERS"}
ASSIGN_KEYS = {"SYMLINK", "GROUP", "MODE", "OWNER", "TAG", "ENV"}
DOCUMENTED = re.compile(r"^#\s+([0-9a-f]{4}):([0-9a-f]{4})\s+\S", re.MULTILINE)


def _rules() -> list[list[tuple[str, str, str, str]]]:
    """Each rule line as (key, attribute, operator, value) tuples; a syntax error fails."""
    parsed = []
    for number, line in enumerate(RULES.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pairs, rest = [], line
        while rest.strip():
            found = PAIR.match(rest)
            assert found, f"line {number}: cannot parse {rest!r}"
            pairs.append((found[1], found[2] or "", found[3], found[4]))
            rest = rest[found.end() :]
            if rest.strip():
                assert rest.startswith(","), f"line {number}: expected ',' before {rest!r}"
                rest = rest[1:]
        parsed.append(pairs)
    return parsed


def _matches(rule: list[tuple[str, str, str, str]], device: dict[str, str]) -> bool:
    for key, attribute, operator, value in rule:
        if operator in MATCHING:
            name = f"{key}{{{attribute}}}" if attribute else key
            if (device.get(name) == value) != (operator == "=="):
                return False
    return True


def test_every_rule_line_is_well_formed() -> None:
    rules = _rules()
    assert rules
    for pairs in rules:
        for key, _attribute, operator, _value in pairs:
            keys = MATCH_KEYS if operator in MATCHING else ASSIGN_KEYS
            assert key in keys, (key, operator)
        assigned = {(key, value) for key, _, operator, value in pairs if operator not in MATCHING}
        assert {("SYMLINK", "hanport"), ("GROUP", "dialout"), ("MODE", "0660")} <= assigned
        assert ("SUBSYSTEM", "", "==", "tty") in pairs


def test_udevadm_verify_where_available() -> None:
    udevadm = shutil.which("udevadm")
    if udevadm is None:
        pytest.skip("no udevadm here; the rule's syntax is checked by the other tests")
    probe = subprocess.run([udevadm, "verify", "--help"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("this udevadm has no `verify` (systemd < 254, e.g. Debian 12)")
    done = subprocess.run(
        [udevadm, "verify", "--resolve-names=never", str(RULES)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_documented_adapters_and_only_those_become_dev_hanport() -> None:
    documented = DOCUMENTED.findall(RULES.read_text(encoding="utf-8"))
    assert len(documented) >= 4
    rules = _rules()
    for vendor, product in documented:
        adapter = {
            "SUBSYSTEM": "tty",
            "ATTRS{idVendor}": vendor,
            "ATTRS{idProduct}": product,
        }
        assert sum(_matches(rule, adapter) for rule in rules) == 1, (vendor, product)
        # The adapter's USB interface (not its tty) is not renamed.
        assert not any(_matches(rule, {**adapter, "SUBSYSTEM": "usb"}) for rule in rules)
    ruled = set()
    for rule in rules:
        attributes = {attribute: value for _, attribute, _, value in rule if attribute}
        ruled.add((attributes["idVendor"], attributes["idProduct"]))
    assert ruled == set(documented)

"""The local stack's walkthroughs work when pasted, in order: the README's quick start, then
docs/local-stack.md's curl and vpcctl walkthroughs. No step asks for a CIDR an earlier
step holds (a 409 CidrConflict), every shell block parses in bash, no command of the
walkthrough has a placeholder to fill in (`ID=<the request id above>` was a syntax
error, `vpcctl delete <id>` reads stdin from a file named `id`), and the file the quick
start writes in the checkout is not one git offers to commit."""

from __future__ import annotations

import ipaddress
import re
import subprocess

import pytest

from devstack.settings import PROJECT_DIR

# In the order a newcomer follows them.
WALKTHROUGHS = [PROJECT_DIR / "README.md", PROJECT_DIR / "docs" / "local-stack.md"]


def _shell_blocks() -> list[tuple[str, str]]:
    """Each ```sh block of WALKTHROUGHS, in order, with where it is."""
    blocks = []
    for path in WALKTHROUGHS:
        found = re.findall(r"^```sh\n(.*?)^```", path.read_text(), flags=re.M | re.S)
        blocks += [(f"{path.name} block {i}", block) for i, block in enumerate(found, 1)]
    return blocks


def test_no_step_asks_for_a_vpc_cidr_an_earlier_step_holds() -> None:
    asked = [
        ipaddress.ip_network(cidr)
        for _, block in _shell_blocks()
        for cidr in re.findall(r'"vpc": \{"cidr": "([0-9./]+)"', block)
    ]

    assert len(asked) >= 4, asked  # the quick start's, two of the curl walkthrough's, vpcctl's
    clashes = [
        (str(earlier), str(later))
        for i, later in enumerate(asked)
        for earlier in asked[:i]
        if later.overlaps(earlier)
    ]
    assert clashes == []


@pytest.mark.parametrize(("where", "block"), _shell_blocks(), ids=lambda v: str(v)[:40])
def test_every_shell_block_parses_in_bash(where: str, block: str) -> None:
    result = subprocess.run(
        ["/bin/bash", "-n"], input=block, capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, f"{where}: {result.stderr}"


def test_no_command_of_the_walkthrough_has_a_placeholder_to_fill_in() -> None:
    """`ID=<the request id above>` pasted is a syntax error, and `vpcctl get <id>` reads
    stdin from a file named `id`: the README's quick start as much as the walkthroughs."""
    placeholders = [
        (where, line)
        for where, block in _shell_blocks()
        for line in block.splitlines()
        if re.search(r"(?<!<)<[a-z][a-z _-]*>", line.split(" #", 1)[0])
    ]

    assert placeholders == []


def test_the_quick_starts_spec_json_is_ignored_by_git() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "--quiet", "spec.json"],
        cwd=PROJECT_DIR,
        check=False,
    )

    assert ignored.returncode == 0

"""vpcctl and the address pools: `create` by flags (sizes, blocks, zones, public), and
`pools` (GET /pools) as a table, JSON or names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from chalicelib.api.validation import check_zones, validate_request
from chalicelib.errors import BadRequest
from support.cli_harness import Cli, json_err, json_out, logged_in
from support.fake_api import FakeApi, Received, Reply
from vpcctl.commands import cli as vpcctl
from vpcctl.create import in_flag_terms

POOLS = {
    "items": [
        {
            "name": "default",
            "cidr": "10.0.0.0/8",
            "total_addresses": 16777216,
            "allocated_addresses": 4194304,
            "free_addresses": 12582912,
            "largest_free_netmask_length": 16,
            "allocations": 64,
        },
        {
            "name": "edge",
            "cidr": "100.64.0.0/28",
            "total_addresses": 16,
            "allocated_addresses": 16,
            "free_addresses": 0,
            "largest_free_netmask_length": None,
            "allocations": 1,
        },
    ]
}


@pytest.fixture
def cli(tmp_path: Path, api: FakeApi) -> Cli:
    return logged_in(tmp_path, api, {"vpc": {"cidr": "10.30.0.0/16"}, "subnets": []})


def accepted() -> Reply:
    return Reply(
        202,
        {"request_id": "r-1", "status": "QUEUED", "cidr": "10.0.0.0/20"},
        {"Location": "/vpcs/r-1"},
    )


def test_create_by_flags_sends_sizes_blocks_zones_and_public(cli: Cli) -> None:
    cli.api.script("POST", "/vpcs", accepted())

    result = cli.run(
        "create",
        "--size",
        "20",
        "--pool",
        "edge",
        "--name",
        "apps",
        "--subnet",
        "/24",
        "--subnet",
        "/26,public",
        "--subnet",
        "/24@us-east-1c",
    )

    assert result.exit_code == 0, result.stderr
    [sent] = cli.api.calls("POST", "/vpcs")
    assert json.loads(sent.body) == {
        "vpc": {"netmask_length": 20, "pool": "edge", "name": "apps"},
        "subnets": [
            {"netmask_length": 24},
            {"netmask_length": 26, "public": True},
            {"netmask_length": 24, "az": "us-east-1c"},
        ],
    }


def test_create_by_flags_with_explicit_blocks(cli: Cli) -> None:
    cli.api.script("POST", "/vpcs", accepted())

    result = cli.run("create", "--cidr", "10.30.0.0/16", "--subnet", "10.30.1.0/24@us-east-1a")

    assert result.exit_code == 0, result.stderr
    [sent] = cli.api.calls("POST", "/vpcs")
    assert json.loads(sent.body) == {
        "vpc": {"cidr": "10.30.0.0/16"},
        "subnets": [{"cidr": "10.30.1.0/24", "az": "us-east-1a"}],
    }


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--subnet", "/24"), "give the VPC's --cidr, or a --size"),
        (("--size", "20", "--cidr", "10.0.0.0/16", "--subnet", "/24"), "--cidr, or a --size"),
        (("--size", "20"), "at least one --subnet"),
        (("--cidr", "10.0.0.0/16", "--pool", "p", "--subnet", "/24"), "--pool goes with --size"),
        (("--size", "20", "--subnet", "24"), "a size such as /24"),
        (("--size", "20", "--subnet", "/24,private"), "only 'public' may follow"),
        (("-f", "spec.json", "--size", "20"), "either -f FILE or the flags"),
        (("--size", "12", "--subnet", "/24"), "12 is not in the range 16<=x<=28"),
    ],
)
def test_create_flags_that_cannot_make_a_body_are_usage_errors(
    cli: Cli, args: tuple[str, ...], fragment: str
) -> None:
    result = cli.run("create", *args)

    assert result.exit_code == 2
    assert fragment in result.stderr
    assert cli.api.received == []


@pytest.mark.parametrize("size", ["/\u00b2\u2074", "/" + "1" * 5000, "/0024"])
def test_a_subnet_size_that_is_no_prefix_length_is_a_usage_error_not_a_bug(
    cli: Cli, size: str
) -> None:
    """Digits str.isdigit() takes and int() refuses (superscripts, more than 4,300 of them)
    once ended in exit 70, 'a bug in vpcctl'."""
    result = cli.run("create", "--size", "20", "--subnet", size)

    assert result.exit_code == 2, result.stderr[-300:]
    assert "give a size such as /24" in result.stderr
    assert len(result.stderr) < 400
    assert cli.api.received == []


def test_a_subnet_flag_too_long_to_repeat_is_shown_cut_short(cli: Cli) -> None:
    result = cli.run("create", "--size", "20", "--subnet", "/24," + "x" * 10_000)

    assert result.exit_code == 2
    assert "only 'public' may follow" in result.stderr
    assert len(result.stderr) < 400


@pytest.mark.parametrize(
    ("api_message", "said"),
    [
        (
            "subnets[1].cidr 10.31.2.0/24 is not inside vpc.cidr 10.30.0.0/16",
            "--subnet #2 10.31.2.0/24 is not inside --cidr 10.30.0.0/16",
        ),
        (
            "subnets[2].cidr 10.30.2.128/25 overlaps subnets[1].cidr 10.30.2.0/24",
            "--subnet #3 10.30.2.128/25 overlaps --subnet #2 10.30.2.0/24",
        ),
        (
            "subnets[0].netmask_length must be from 20 to 28 (a subnet is no larger than its "
            "VPC), got 16.",
            "the size of --subnet #1 must be from 20 to 28",
        ),
        ("subnets[10].az 'x' is not one of", "the @ZONE of --subnet #11 'x' is not one of"),
        ("vpc.pool 'nope' is not a pool", "--pool 'nope' is not a pool"),
    ],
)
def test_a_refusal_of_a_body_built_from_flags_names_the_flags(
    cli: Cli, api_message: str, said: str
) -> None:
    refusal = {"Code": "BadRequestError", "Message": api_message}
    cli.api.script("POST", "/vpcs", Reply(400, refusal))

    result = cli.run("create", "--cidr", "10.30.0.0/16", "--subnet", "10.31.2.0/24")

    assert result.exit_code == 2
    assert said in result.stderr


ZONES = ("us-east-1a", "us-east-1b")


def the_apis_validation(request: Received) -> Reply:
    """POST /vpcs judged as the API judges a body: with its own validation's messages."""
    try:
        check_zones(validate_request(json.loads(request.body)), ZONES, "us-east-1")
    except BadRequest as refused:
        return Reply(400, {"Code": "BadRequestError", "Message": refused.message})
    return accepted()


# A body field's name as the API writes it (not a word such as "subnets" in a sentence).
API_FIELD = re.compile(r"vpc\.\w|subnets\[|netmask_length|\"vpc\"")


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (
            ["--size", "20", "--subnet", "10.99.0.0/24"],
            "--subnet #1 needs an explicit --cidr; with --size, give --subnet #1 a size such "
            "as /24 instead.",
        ),
        (
            ["--size", "20", "--subnet", "/24", "--subnet", "/16"],
            "the size of --subnet #2 must be from 20 to 28 (a subnet is no larger than its "
            "VPC), got 16.",
        ),
        (
            ["--size", "20", "--subnet", "/24@mars-1a"],
            "the @ZONE of --subnet #1 'mars-1a' is not an Availability Zone of us-east-1; "
            "use one of: us-east-1a, us-east-1b.",
        ),
        (
            ["--size", "20", "--subnet", f"/24@{'z' * 65}"],
            "the @ZONE of --subnet #1 must be an Availability Zone name such as 'us-east-1a'",
        ),
        (
            ["--cidr", "10.30.0.0/16", "--subnet", "10.31.0.0/24"],
            "--subnet #1 10.31.0.0/24 is not inside --cidr 10.30.0.0/16.",
        ),
        (
            ["--cidr", "10.30.0.0/16", "--subnet", "10.30.0.0/24", "--subnet", "10.30.0.0/25"],
            "--subnet #2 10.30.0.0/25 overlaps --subnet #1 10.30.0.0/24.",
        ),
        (
            ["--cidr", "10.30.0.0/16", "--subnet", "10.30.1.1/24"],
            "--subnet #1 '10.30.1.1/24' has host bits set; did you mean '10.30.1.0/24'?",
        ),
        (
            ["--cidr", "10.30.0.1/16", "--subnet", "/24"],
            "--cidr '10.30.0.1/16' has host bits set; did you mean '10.30.0.0/16'?",
        ),
        (
            ["--cidr", "10.0.0.0/12", "--subnet", "/24"],
            "--cidr '10.0.0.0/12' has prefix /12; the prefix must be between /16 and /28.",
        ),
        (
            ["--cidr", "10.30.0.0/16", "--subnet", "/12"],
            "the size of --subnet #1 must be from 16 to 28 (a subnet is no larger than its "
            "VPC), got 12.",
        ),
        (
            ["--size", "20", "--pool", "", "--subnet", "/24"],
            "--pool must be the name of a pool (GET /pools lists them), got ''.",
        ),
        (["--size", "20", "--name", "a;b", "--subnet", "/24"], "--name contains ';'"),
        (["--size", "20", *["--subnet", "/28"] * 51], "give 1 to 50 --subnet, not 51."),
    ],
)
def test_every_refusal_of_a_body_built_from_flags_reads_in_the_flags_terms(
    cli: Cli, flags: list[str], said: str
) -> None:
    """The API's own validation answers: each message, in the flags' terms, reads right."""
    cli.api.respond("POST", "/vpcs", the_apis_validation)

    result = cli.run("create", *flags, "--json")

    assert result.exit_code == 2, result.stderr
    message = json_err(result)["Message"]
    assert message.startswith(said)
    assert not API_FIELD.search(message), message


@pytest.mark.parametrize(
    ("api_message", "said"),
    [
        # block_conflicts.py's CidrConflict
        (
            'vpc.cidr 10.30.0.0/16 overlaps request r-9. Ask for a size instead ("vpc": '
            '{"netmask_length": 16}) and the service picks a free block, or choose another CIDR.',
            "--cidr 10.30.0.0/16 overlaps request r-9. Ask for a size instead (--size 16) and "
            "the service picks a free block, or choose another CIDR.",
        ),
        # address_planner.py: sized subnets that do not fit
        (
            "subnets do not fit in the VPC's /24 (256 addresses; the subnets ask for 512): ask "
            "for smaller subnets (subnets[].netmask_length) or a larger VPC.",
            "subnets do not fit in the VPC's /24 (256 addresses; the subnets ask for 512): ask "
            "for smaller subnets (--subnet /N with a larger N) or a larger VPC.",
        ),
        # first_fit.py
        (
            "vpc.netmask_length 16 asks for more than pool 'edge' holds (100.64.0.0/16): ask "
            "for /16 or a longer netmask, or another vpc.pool.",
            "--size 16 asks for more than pool 'edge' holds (100.64.0.0/16): ask for /16 or a "
            "longer netmask, or another --pool.",
        ),
        (
            "Pool 'default' (10.0.0.0/8) has no free /16: the largest free block is "
            "10.9.0.0/17 (a /17). Ask for a smaller block (a vpc.netmask_length of 17 or "
            "more), another vpc.pool, or delete a network you no longer need.",
            "Pool 'default' (10.0.0.0/8) has no free /16: the largest free block is "
            "10.9.0.0/17 (a /17). Ask for a smaller block (a --size of 17 or more), another "
            "--pool, or delete a network you no longer need.",
        ),
        (
            "vpc.pool 'x' is not a pool of this stage; pools: default.",
            "--pool 'x' is not a pool of this stage; pools: default.",
        ),
    ],
)
def test_the_address_planners_refusals_read_in_the_flags_terms(api_message: str, said: str) -> None:
    """The refusals that need the pools' state (the API's words, copied)."""
    assert in_flag_terms(api_message) == said


def test_a_refusal_of_a_body_from_a_file_keeps_the_files_field_names(cli: Cli) -> None:
    message = "subnets[1].cidr 10.31.2.0/24 is not inside vpc.cidr 10.30.0.0/16"
    cli.api.script("POST", "/vpcs", Reply(400, {"Code": "BadRequestError", "Message": message}))

    result = cli.run("create", "-f", "spec.json")

    assert result.exit_code == 2
    assert message in result.stderr


def test_pools_shows_use_free_space_and_the_largest_block(cli: Cli) -> None:
    cli.api.script("GET", "/pools", Reply(200, POOLS))

    result = cli.run("pools")

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "POOL",
        "CIDR",
        "USED",
        "FREE",
        "ADDRESSES",
        "LARGEST",
        "FREE",
        "ALLOCATIONS",
    ]
    assert lines[1].split() == ["default", "10.0.0.0/8", "25.0%", "12582912", "/16", "64"]
    assert lines[2].split() == ["edge", "100.64.0.0/28", "100.0%", "0", "none", "1"]


def test_pools_as_json_and_as_names(cli: Cli) -> None:
    cli.api.script("GET", "/pools", Reply(200, POOLS))

    assert json_out(cli.run("pools", "-o", "json")) == POOLS
    assert cli.run("pools", "-q").stdout.splitlines() == ["default", "edge"]


def test_pools_as_yaml_and_through_a_query(cli: Cli) -> None:
    """Every read takes -o yaml and --query, pools too (issue 24, 10)."""
    cli.api.script("GET", "/pools", Reply(200, POOLS))

    assert yaml.safe_load(cli.run("pools", "-o", "yaml").stdout) == POOLS
    full = cli.run("pools", "--query", "items[?free_addresses==`0`].name")
    assert full.stdout.splitlines() == ["edge"]
    largest = cli.run("pools", "--query", "items[0].largest_free_netmask_length", "-o", "json")
    assert largest.stdout == "16\n"


def test_pools_help_says_q_prints_the_pool_names() -> None:
    shown = " ".join(CliRunner().invoke(vpcctl, ["pools", "--help"]).stdout.split())
    assert "-q, --quiet Print only the pool names, one a line." in shown
    assert "request ids" not in shown


# The API's own words (block_conflicts.py, first_fit.py), and their advice.
ADDRESS_REFUSALS = [
    (
        ["--cidr", "10.30.0.0/16", "--subnet", "/24"],
        "CidrConflict",
        'vpc.cidr 10.30.0.0/16 overlaps request r-9. Ask for a size instead ("vpc": '
        '{"netmask_length": 16}) and the service picks a free block, or choose another CIDR.',
        "ask for a size instead",
    ),
    (
        ["--size", "16", "--subnet", "/24"],
        "PoolExhausted",
        "Pool 'default' (10.0.0.0/8) has no free /16: the largest free block is 10.9.0.0/17 "
        "(a /17). Ask for a smaller block (a vpc.netmask_length of 17 or more), another "
        "vpc.pool, or delete a network you no longer need.",
        "delete a network you no longer need",
    ),
]


@pytest.mark.parametrize(("flags", "code", "message", "advice"), ADDRESS_REFUSALS)
def test_an_address_refusal_is_not_retried_and_exits_2_with_what_to_do(
    cli: Cli, flags: list[str], code: str, message: str, advice: str
) -> None:
    cli.api.script("POST", "/vpcs", Reply(409, {"Code": code, "Message": message}))

    result = cli.run("create", *flags)

    assert result.exit_code == 2
    assert f"({code}, HTTP 409)" in result.stderr
    assert advice in result.stderr.lower()
    assert len(cli.api.received) == 1


@pytest.mark.parametrize(("flags", "code", "message", "advice"), ADDRESS_REFUSALS)
def test_an_address_refusals_advice_is_said_once(
    cli: Cli, flags: list[str], code: str, message: str, advice: str
) -> None:
    """The API's message says what to do instead: vpcctl adds no hint saying it again (a
    pointer to `vpcctl pools`, which the API cannot give, is no repeat)."""
    cli.api.script("POST", "/vpcs", Reply(409, {"Code": code, "Message": message}))

    result = cli.run("create", *flags)

    assert result.stderr.lower().count(advice) == 1, result.stderr
    assert result.stderr.lower().count("another --pool") <= 1

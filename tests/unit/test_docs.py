"""The README and docs/ hold together: the README stays short, every relative link leads
to a file (and heading) that exists, the quick start's `vpcctl` commands are ones vpcctl
accepts, and the `aws sqs` commands shown work with the AWS CLI v1 too."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import yaml

from vpcctl.commands import cli as vpcctl

PROJECT = Path(__file__).resolve().parents[2]
README = PROJECT / "README.md"
LOCAL_STACK = PROJECT / "docs" / "local-stack.md"
OPERATING = PROJECT / "docs" / "operating.md"
DOCS = [README, *sorted((PROJECT / "docs").glob("*.md"))]

README_MAX_LINES = 120


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    """Each fenced code block: its info string (`sh`, `json`, ...) and its body."""
    blocks: list[tuple[str, str]] = []
    info: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        if line.startswith("```"):
            if info is None:
                info, body = line[3:].strip(), []
            else:
                blocks.append((info, "\n".join(body)))
                info = None
        elif info is not None:
            body.append(line)
    return blocks


def _prose(text: str) -> str:
    """The text without its fenced code blocks."""
    return re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.M | re.S)


def _shell_blocks(text: str) -> list[str]:
    return [body for info, body in _fenced_blocks(text) if info == "sh"]


def _command_lines(block: str) -> list[str]:
    """A shell block's lines, continuations (`\\` at the end) joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", block)
    return [line.strip() for line in joined.splitlines() if not line.lstrip().startswith("#")]


def _inline_code(text: str) -> list[str]:
    return [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", _prose(text))]


# --- `aws sqs` and the AWS CLI v1 -------------------------------------------------------

SQS_COMMAND = re.compile(r"\baws sqs [a-z]")
ENDPOINT_FLAG = '--endpoint-url "$AWS_ENDPOINT_URL"'


def _sqs_commands(lines: list[str]) -> list[str]:
    """Each `aws sqs ...` command of these lines, from `aws` to the next `aws` or the end."""
    return [
        part for line in lines for part in re.split(r"(?=\baws )", line) if SQS_COMMAND.match(part)
    ]


def _states_the_v1_caveat(text: str) -> bool:
    return "CLI v1" in text and "--endpoint-url" in text and "aws sqs" in text


def test_the_local_walkthrough_gives_every_aws_sqs_command_the_endpoint() -> None:
    """The AWS CLI v1 ignores AWS_ENDPOINT_URL for `aws sqs` and calls
    https://queue.amazonaws.com: against the local stack each one needs the flag."""
    text = LOCAL_STACK.read_text()
    walkthrough = _shell_blocks(text)[0]
    assert _sqs_commands(_command_lines(walkthrough)), "the walkthrough shows the queues"

    shown = [c for block in _shell_blocks(text) for c in _sqs_commands(_command_lines(block))]
    shown += _sqs_commands(_inline_code(text))
    for command in shown:
        assert ENDPOINT_FLAG in command, command


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_aws_sqs_command_shown_names_the_endpoint_or_says_when_to(doc: Path) -> None:
    """A block of commands for a deployed stage (docs/deploy.md) may leave the flag out
    if it says, in the block, when to add it."""
    text = doc.read_text()
    for block in _shell_blocks(text):
        if _states_the_v1_caveat(block):
            continue
        for command in _sqs_commands(_command_lines(block)):
            assert "--endpoint-url" in command, f"{doc.name}: {command}"
    for command in _sqs_commands(_inline_code(text)):
        assert "--endpoint-url" in command, f"{doc.name}: {command}"


def test_operating_it_warns_that_the_cli_v1_ignores_the_endpoint_for_sqs() -> None:
    paragraphs = re.split(r"\n\s*\n|\n(?=\|)", _prose(OPERATING.read_text()))
    assert any(_states_the_v1_caveat(paragraph) for paragraph in paragraphs)


# --- curl bodies are JSON ---------------------------------------------------------------

CURL_WITH_BODY = re.compile(r"\bcurl\b.*\s(-d|--data\S*|--json)\s")


def _curl_commands(lines: list[str]) -> list[str]:
    return [part for line in lines for part in re.split(r"(?=\bcurl )", line) if "curl " in part]


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_curl_that_sends_a_body_says_it_is_json(doc: Path) -> None:
    """`curl -d` alone sends a form, and the API answers 415 (the walkthrough's second
    POST once did): every example with a body sends Content-Type: application/json."""
    commands = [
        c for block in _shell_blocks(doc.read_text()) for c in _curl_commands(_command_lines(block))
    ]
    for command in commands:
        if CURL_WITH_BODY.search(command) and "--json" not in command:
            assert "Content-Type: application/json" in command, f"{doc.name}: {command}"


def test_the_local_walkthrough_posts_with_a_body() -> None:
    """The check above has something to check."""
    blocks = _shell_blocks(LOCAL_STACK.read_text())
    posts = [c for b in blocks for c in _curl_commands(_command_lines(b)) if "-X POST" in c]
    assert len([c for c in posts if CURL_WITH_BODY.search(c)]) >= 2


# --- short, and linked ------------------------------------------------------------------


def test_the_readme_stays_short() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move detail to docs/"


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to `-`."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", _prose(doc.read_text()), flags=re.M):
        slug, n = _slug(heading), 0
        while (slug if n == 0 else f"{slug}-{n}") in anchors:
            n += 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def _relative_links(doc: Path) -> list[str]:
    prose = re.sub(r"`[^`]*`", "", _prose(doc.read_text()))  # code is not a link
    targets = re.findall(r"\[[^\]]*\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)", prose)
    return [target for target in targets if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


def test_the_link_finder_finds_links() -> None:
    assert "docs/deploy.md" in _relative_links(README)
    assert "operating.md#address-pools" in _relative_links(PROJECT / "docs" / "api.md")
    assert "#address-pools" in _relative_links(OPERATING)
    assert "address-pools" in _anchors(OPERATING)
    assert "one-stack-make-deploy" in _anchors(PROJECT / "docs" / "deploy.md")


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(doc: Path) -> None:
    for link in _relative_links(doc):
        path, _, anchor = link.partition("#")
        target = (doc.parent / path).resolve() if path else doc
        assert target.exists(), f"{doc.name}: {link}: no {target.relative_to(PROJECT)}"
        assert target.is_relative_to(PROJECT), f"{doc.name}: {link} leaves the repository"
        if anchor:
            assert target.suffix == ".md", f"{doc.name}: {link}: an anchor in a non-Markdown file"
            assert anchor in _anchors(target), f"{doc.name}: {link}: no such heading"


# --- the quick start's vpcctl commands ----------------------------------------------------


QUICK_START_MAX_LINES = 15


def _quick_start_block() -> str:
    text = README.read_text()
    section = text[text.index("## Quick start") :]
    section = section[: section.index("\n## ", 1)]
    (block,) = _shell_blocks(section)
    return block


def test_the_readme_opens_with_a_short_quick_start_in_the_order_a_newcomer_needs() -> None:
    headings = re.findall(r"^## +(.+)$", _prose(README.read_text()), flags=re.M)
    assert headings[0] == "Quick start", f"the README's first section is {headings[0]!r}"
    lines = _quick_start_block().splitlines()
    assert len(lines) <= QUICK_START_MAX_LINES, f"the quick start has {len(lines)} lines"
    starts = [line.split("#")[0].strip() for line in lines]
    steps = ["make run", 'eval "$(make -s env)"', "vpcctl login", "vpcctl create", "vpcctl list"]
    order = [next(i for i, s in enumerate(starts) if s.startswith(step)) for step in steps]
    assert order == sorted(order), "make run, then the eval, then login, create, list"
    assert starts[-1] == "make test"


def _quick_start_vpcctl_commands() -> list[list[str]]:
    block = _quick_start_block()
    commands = []
    for line in _command_lines(block):
        if line.split(maxsplit=1)[:1] == ["vpcctl"]:
            argv = shlex.split(line, comments=True)[1:]
            commands.append(argv)
    return commands


def _parse(argv: list[str]) -> click.Context:
    """vpcctl's own parsing of `vpcctl ARGV`, as its group does it before running the
    command (click.Group.invoke): the group's flags, the command's name, its flags."""
    ctx = vpcctl.make_context("vpcctl", list(argv))
    with ctx:
        # (click < 8.2 has only the public name, deprecated since)
        held = ctx._protected_args if hasattr(ctx, "_protected_args") else ctx.protected_args
        rest = [*held, *ctx.args]
        name, command, rest = vpcctl.resolve_command(ctx, rest)
        assert name is not None
        assert command is not None
        return command.make_context(name, rest, parent=ctx)


def test_the_command_parser_refuses_what_vpcctl_refuses() -> None:
    with pytest.raises(click.UsageError):
        _parse(["create", "--no-such-flag"])
    with pytest.raises(click.UsageError):
        _parse(["no-such-command"])
    with pytest.raises(click.UsageError):
        _parse(["delete"])  # no request id


# Commands of one system only: macOS's `open` is openvt, or nothing, on Linux.
ONE_SYSTEM_COMMANDS = {"open", "xdg-open", "start", "pbcopy", "pbpaste", "xclip"}


def test_the_quick_start_runs_on_linux_as_on_macos() -> None:
    block = _quick_start_block()
    for line in _command_lines(block):
        assert line.split()[0] not in ONE_SYSTEM_COMMANDS, line
    assert "http://127.0.0.1:8000/console in a browser" in block  # the console, still shown


def test_the_quick_starts_vpcctl_commands_are_ones_vpcctl_accepts() -> None:
    commands = _quick_start_vpcctl_commands()
    assert [argv[0] for argv in commands] == ["login", "create", "create", "list", "delete"]
    for argv in commands:
        _parse(argv)  # a click.UsageError (exit 2 at the command line) fails the test


def test_the_api_pages_post_row_names_every_answer_openapi_yaml_gives_a_post() -> None:
    """docs/api.md says openapi.yaml in prose: a review found its POST row without the
    429 `QuotaExceeded` of the per-user limit."""
    spec = yaml.safe_load((PROJECT / "openapi.yaml").read_text())
    text = (PROJECT / "docs" / "api.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `POST /vpcs`"))

    missing = [code for code in spec["paths"]["/vpcs"]["post"]["responses"] if code not in row]

    assert missing == []
    assert "QuotaExceeded" in row
    assert "MAX_LIVE_REQUESTS_PER_USER" in row

"""The README and docs/ hold together: the `aws sqs` commands shown work with the AWS
CLI v1 too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
README = PROJECT / "README.md"
LOCAL_STACK = PROJECT / "docs" / "local-stack.md"
OPERATING = PROJECT / "docs" / "operating.md"
DOCS = [README, *sorted((PROJECT / "docs").glob("*.md"))]


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

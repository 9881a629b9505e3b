"""The local stack's ready message: what to run next, for the stack that is running."""

from __future__ import annotations

import subprocess
from pathlib import Path

from devstack.settings import PROJECT_DIR
from devstack.state_folder import StackInfo, ready_message

INFO = StackInfo(
    api_url="http://127.0.0.1:8001",
    aws_endpoint_url="http://127.0.0.1:18001",
    region="us-east-1",
    table_name="t",
    queue_url="q",
    dlq_url="d",
    user_pool_id="p",
    user_pool_client_id="c",
    username="demo",
    password="pw",
    admin_username="admin",
    admin_password="pw2",
)


def test_a_stack_with_its_own_state_folder_names_it_in_every_follow_up_command() -> None:
    message = ready_message(INFO, 3.2, PROJECT_DIR / ".local-2")

    assert 'eval "$(make -s env STATE=.local-2)"' in message
    assert "make -s token STATE=.local-2" in message
    assert 'eval "$(make -s unenv STATE=.local-2)"' in message


def test_the_default_stack_needs_no_state_and_each_line_is_short() -> None:
    message = ready_message(INFO, 3.2, PROJECT_DIR / ".local")

    assert 'eval "$(make -s env)"' in message
    assert "STATE=" not in message
    assert "vpcctl login" in message
    assert "The web console: http://127.0.0.1:8001/console" in message
    assert all(len(line) <= 100 for line in message.splitlines())


def test_a_state_folder_whose_path_has_a_space_is_quoted_so_the_commands_paste_whole(
    tmp_path: Path,
) -> None:
    """A folder outside the project is named by its absolute path, which may have a space
    (`~/My Projects/...`): each command is one the shell reads with STATE whole."""
    folder = tmp_path / "My Projects" / "stack 2"
    message = ready_message(INFO, 3.2, folder)

    [env_line] = [line for line in message.splitlines() if "make -s env" in line]
    command = env_line.split('eval "$(', 1)[1].split(')"', 1)[0]
    words = subprocess.run(
        ["sh", "-c", f'for w in {command}; do echo "$w"; done'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert words == ["make", "-s", "env", f"STATE={folder}"]

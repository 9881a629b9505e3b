"""Address pools through the local stack: a walkthrough run twice meets a 409 that says
to ask for a size, 64 simultaneous sized POSTs all end 202 with disjoint blocks, the
default VPC is a conflict by name, and a DELETE gives the space back."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Network
from pathlib import Path

import requests

from e2e.conftest import E2E_POOL, RunningStack, stack_as_the_sessions

SIZED = {"vpc": {"netmask_length": 26, "pool": E2E_POOL}, "subnets": [{"netmask_length": 28}]}


def wait_status(stack: RunningStack, api: requests.Session, request_id: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if api.get(f"{stack.url}/vpcs/{request_id}").json()["status"] == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"{request_id} never reached {status}")


def test_a_walkthrough_run_twice_meets_a_409_saying_to_ask_for_a_size(
    local_stack: RunningStack, api: requests.Session
) -> None:
    walkthrough = {
        "vpc": {"cidr": "10.247.0.0/16", "name": "apps"},
        "subnets": [{"cidr": "10.247.1.0/24", "az": "us-east-1a"}],
    }
    first = api.post(f"{local_stack.url}/vpcs", json=walkthrough, headers={"Idempotency-Key": "w1"})
    assert first.status_code == 202, first.text

    again = api.post(f"{local_stack.url}/vpcs", json=walkthrough, headers={"Idempotency-Key": "w2"})

    assert again.status_code == 409, again.text
    assert again.json()["Code"] == "CidrConflict"
    assert first.json()["request_id"] in again.json()["Message"]
    assert '"netmask_length": 16' in again.json()["Message"]


def test_sixty_four_simultaneous_sized_posts_all_end_202_with_disjoint_blocks(
    tmp_path: Path,
) -> None:
    # A stack of its own: the 64 requests would make every later reconciler run of the
    # session's stack check them for drift.
    with stack_as_the_sessions(tmp_path) as stack:
        results = _sixty_four_sized_posts(stack, stack.id_token())

    blocks = [IPv4Network(cidr) for cidr, _ in results]
    assert all(s < 500 or s == 503 for _, statuses in results for s in statuses)
    assert len(set(blocks)) == 64
    assert not any(a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])
    assert all(b.subnet_of(IPv4Network("100.64.0.0/16")) for b in blocks)


def _sixty_four_sized_posts(local_stack: RunningStack, token: str) -> list[tuple[str, list[int]]]:
    """64 sized POSTs at once, each retried with its key on 409/503: (cidr, statuses)."""

    def one(_: int) -> tuple[str, list[int]]:
        key = str(uuid.uuid4())
        statuses: list[int] = []
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {token}"
            for _attempt in range(20):
                response = session.post(
                    f"{local_stack.url}/vpcs", json=SIZED, headers={"Idempotency-Key": key}
                )
                statuses.append(response.status_code)
                if response.status_code == 202:
                    return str(response.json()["cidr"]), statuses
                # The client's retry with the same key converges.
                assert response.status_code in (409, 503), response.text
                time.sleep(float(response.headers.get("Retry-After", "1")) / 4)
        raise AssertionError(f"never accepted: {statuses}")

    with ThreadPoolExecutor(max_workers=64) as pool:
        return list(pool.map(one, range(64)))


def test_the_default_vpc_is_a_conflict_by_name_once_the_upkeep_has_seen_it(
    local_stack: RunningStack, api: requests.Session
) -> None:
    ec2 = local_stack.client("ec2")
    default = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    payload = {"vpc": {"cidr": "172.31.0.0/16"}, "subnets": [{"cidr": "172.31.0.0/24"}]}
    deadline = time.monotonic() + 30
    while True:
        response = api.post(
            f"{local_stack.url}/vpcs", json=payload, headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        if response.status_code == 409 or time.monotonic() > deadline:
            break
        # Accepted before the upkeep ran (its listing may be minutes stale): give it back.
        assert response.status_code == 202, response.text
        api.delete(f"{local_stack.url}/vpcs/{response.json()['request_id']}")
        time.sleep(0.5)

    assert response.status_code == 409, response.text
    assert response.json()["Code"] == "CidrConflict"
    assert default["VpcId"] in response.json()["Message"]


def test_a_deleted_request_gives_its_block_back(
    local_stack: RunningStack, api: requests.Session
) -> None:
    answer = api.post(f"{local_stack.url}/vpcs", json=SIZED, headers={"Idempotency-Key": "gb"})
    assert answer.status_code == 202, answer.text
    request_id, cidr = answer.json()["request_id"], answer.json()["cidr"]
    wait_status(local_stack, api, request_id, "SUCCEEDED")
    block = IPv4Network(cidr)
    again = {"vpc": {"cidr": cidr}, "subnets": [{"cidr": str(next(block.subnets(new_prefix=28)))}]}
    taken = api.post(f"{local_stack.url}/vpcs", json=again, headers={"Idempotency-Key": "gb-1"})
    assert taken.status_code == 409, taken.text  # held: the same CIDR is refused

    api.delete(f"{local_stack.url}/vpcs/{request_id}")
    wait_status(local_stack, api, request_id, "DELETED")

    # Given back: the same CIDR is accepted. (The pool's totals are no proof here: other
    # tests' requests in it end, and free their blocks, at the same time.)
    freed = api.post(f"{local_stack.url}/vpcs", json=again, headers={"Idempotency-Key": "gb-2"})
    assert freed.status_code == 202, freed.text
    wait_status(local_stack, api, freed.json()["request_id"], "SUCCEEDED")
    assert api.delete(f"{local_stack.url}/vpcs/{freed.json()['request_id']}").status_code == 202

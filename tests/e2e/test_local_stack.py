"""End to end: the local stack over HTTP, with moto's EC2 as ground truth."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jwt
import moto
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.server import ThreadedMotoServer

from chalicelib.clock import iso_timestamp, sort_timestamp
from chalicelib.models import RequestRecord, Status, SubnetState
from chalicelib.request_spec import ProvisioningRequest, SubnetSpec, VpcSpec
from chalicelib.store.admission import Created, IdempotencyLock
from chalicelib.store.api import RequestStore
from chalicelib.store.claims import Claimed
from chalicelib.store.worker import WorkerStore
from devstack.resources import create_table
from e2e.conftest import PROJECT_DIR, RunningStack, start_stack, stop_stack

pytestmark = pytest.mark.e2e

TERMINAL = {"SUCCEEDED", "FAILED"}


def body(second_octet: int, subnets: int = 2) -> dict[str, Any]:
    return {
        "vpc": {"cidr": f"10.{second_octet}.0.0/16", "name": f"e2e-{second_octet}"},
        "subnets": [
            {"cidr": f"10.{second_octet}.{i}.0/24", "az": f"us-east-1{'abc'[i % 3]}"}
            for i in range(subnets)
        ],
    }


def submit(stack: RunningStack, api: requests.Session, payload: dict[str, Any]) -> str:
    response = api.post(
        f"{stack.url}/vpcs", json=payload, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["request_id"])


def wait_for(
    stack: RunningStack, api: requests.Session, request_id: str, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = api.get(f"{stack.url}/vpcs/{request_id}").json()
        if record["status"] in TERMINAL:
            return dict(record)
        time.sleep(0.2)
    pytest.fail(f"{request_id} not finished after {timeout}s:\n{stack.log()[-4000:]}")


def vpcs_of(stack: RunningStack, request_id: str) -> list[dict[str, Any]]:
    ec2 = stack.client("ec2")
    filters = [{"Name": "tag:RequestId", "Values": [request_id]}]
    return list(ec2.describe_vpcs(Filters=filters)["Vpcs"])


def subnets_of(stack: RunningStack, vpc_id: str) -> list[dict[str, Any]]:
    ec2 = stack.client("ec2")
    return list(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"])


# --- the happy path and the API contract ------------------------------------------------


def test_a_request_is_provisioned_and_ec2_holds_exactly_it(
    local_stack: RunningStack, api: requests.Session
) -> None:
    request_id = submit(local_stack, api, body(101, subnets=3))

    record = wait_for(local_stack, api, request_id)

    assert record["status"] == "SUCCEEDED", record
    [vpc] = vpcs_of(local_stack, request_id)
    assert vpc["VpcId"] == record["vpc_id"]
    subnets = subnets_of(local_stack, vpc["VpcId"])
    assert sorted(s["SubnetId"] for s in subnets) == sorted(
        s["subnet_id"] for s in record["subnets"]
    )
    tags = {t["Key"]: t["Value"] for t in vpc["Tags"]}
    assert tags.pop("vpc-provisioner:created-at")
    assert tags == {
        "Name": "e2e-101",
        "Project": "demo",
        "RequestId": request_id,
        "vpc-provisioner:deployment": local_stack.info["table_name"],
    }


def test_a_replay_returns_the_same_request(
    local_stack: RunningStack, api: requests.Session
) -> None:
    headers = {"Idempotency-Key": f"e2e-replay-{uuid.uuid4()}"}
    first = api.post(f"{local_stack.url}/vpcs", json=body(102), headers=headers)

    replay = api.post(f"{local_stack.url}/vpcs", json=body(102), headers=headers)
    other = api.post(f"{local_stack.url}/vpcs", json=body(103), headers=headers)

    assert first.status_code == replay.status_code == 202
    assert replay.json()["request_id"] == first.json()["request_id"]
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    wait_for(local_stack, api, first.json()["request_id"])
    assert len(vpcs_of(local_stack, first.json()["request_id"])) == 1


def test_replays_that_resend_a_queued_job_never_make_a_second_vpc(
    local_stack: RunningStack, api: requests.Session
) -> None:
    """Replays of a QUEUED request make no second VPC (they once re-sent its job, so the
    stack's pollers ran copies of one job at once and a moto race made two VPCs for one
    request; a replay now sends a job only when the first send failed)."""
    request_ids = []
    for octet in range(104, 110):
        headers = {"Idempotency-Key": f"e2e-resend-{uuid.uuid4()}"}
        answers = [
            api.post(f"{local_stack.url}/vpcs", json=body(octet, subnets=1), headers=headers)
            for _ in range(3)
        ]
        assert {a.status_code for a in answers} == {202}
        assert len({a.json()["request_id"] for a in answers}) == 1
        request_ids.append(answers[0].json()["request_id"])

    for request_id in request_ids:
        assert wait_for(local_stack, api, request_id)["status"] == "SUCCEEDED"
        assert len(vpcs_of(local_stack, request_id)) == 1, request_id


def test_the_embedded_moto_gives_one_claim_to_one_of_many_concurrent_workers(
    local_stack: RunningStack,
) -> None:
    """The claim is a conditional write; real DynamoDB lets exactly one of concurrent
    claimers win. moto server alone lets several win now and then (in its own process,
    about 1 round in 10 with 16 claimers, 1 in 50 with 8); the stack's moto must not."""
    dynamodb = local_stack.client("dynamodb")
    table = f"isolation-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb, table)
    store = RequestStore(dynamodb, table)
    worker_store = WorkerStore(dynamodb, table)
    workers = 16

    def winners(request_id: str) -> int:
        start = threading.Barrier(workers)

        def claim(_: int) -> bool:
            start.wait()
            result = worker_store.claim(request_id, uuid.uuid4().hex, time.time(), 60)
            return isinstance(result, Claimed)

        with ThreadPoolExecutor(workers) as pool:
            return sum(pool.map(claim, range(workers)))

    rounds = [winners(_queued_request(store)) for _ in range(60)]

    assert rounds == [1] * len(rounds)


def _queued_request(store: RequestStore) -> str:
    request = ProvisioningRequest(
        VpcSpec("10.0.0.0/16"), (SubnetSpec("10.0.0.0/24", "us-east-1a"),)
    )
    now = time.time()
    record = RequestRecord(
        request_id=str(uuid.uuid4()),
        status=Status.QUEUED,
        created_by="isolation",
        created_by_username="isolation",
        created_at=iso_timestamp(now),
        updated_at=iso_timestamp(now),
        created_sort=sort_timestamp(now),
        request=request,
        subnets=[SubnetState("10.0.0.0/24", "us-east-1a")],
    )
    lock = IdempotencyLock(
        caller_sub="isolation",
        key=record.request_id,
        target_request_id=record.request_id,
        body_hash=request.fingerprint(),
        ttl_epoch=int(now) + 3600,
    )
    assert isinstance(store.create(record, lock, now), Created)
    return record.request_id


def test_listing_pages_newest_first(local_stack: RunningStack, api: requests.Session) -> None:
    sized = {"vpc": {"netmask_length": 24, "pool": "e2e"}, "subnets": [{"netmask_length": 28}]}
    created = [submit(local_stack, api, sized) for _ in range(3)]
    seen: list[str] = []
    token = None
    while True:
        params = {"limit": "2", **({"next_token": token} if token else {})}
        page = api.get(f"{local_stack.url}/vpcs", params=params).json()
        assert len(page["items"]) == 2 or page["next_token"] is None
        seen.extend(item["request_id"] for item in page["items"])
        token = page["next_token"]
        if token is None:
            break

    assert seen[:3] == created[::-1]
    assert len(seen) == len(set(seen))
    bad = api.get(f"{local_stack.url}/vpcs", params={"next_token": "forged.token"})
    assert bad.status_code == 400


def test_bad_input_is_a_clear_400(local_stack: RunningStack, api: requests.Session) -> None:
    response = api.post(
        f"{local_stack.url}/vpcs",
        data="{not json",
        headers={"Idempotency-Key": "x", "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["Code"] == "BadRequestError"


def test_make_token_prints_a_token_the_api_accepts(local_stack: RunningStack) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devstack.token"],
        cwd=PROJECT_DIR,
        env={"DEVSTACK_STATE_DIR": str(local_stack.state_dir), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    token = result.stdout.strip()

    response = requests.get(f"{local_stack.url}/vpcs", headers={"Authorization": token})

    assert response.status_code == 200
    assert "\n" not in token


# --- authentication ------------------------------------------------------------------


def _moto_private_key() -> Any:
    """moto signs every pool's tokens with one key that ships in its package (public!)."""
    path = Path(moto.__file__).parent / "cognitoidp" / "resources" / "jwks-private.json.gz"
    with gzip.open(path) as handle:
        return jwt.algorithms.RSAAlgorithm.from_jwk(json.load(handle))


def _claims(stack: RunningStack, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": str(uuid.uuid4()),
        "cognito:username": "mallory",
        "iss": f"https://cognito-idp.{stack.info['region']}.amazonaws.com/{stack.info['user_pool_id']}",
        "aud": stack.info["user_pool_client_id"],
        "token_use": "id",
        "iat": now,
        "exp": now + 600,
        **overrides,
    }
    return {k: v for k, v in claims.items() if v is not None}


def _sign(claims: dict[str, Any], key: Any, kid: str = "dummy") -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def _bad_tokens(stack: RunningStack) -> dict[str, str]:
    moto_key = _moto_private_key()
    own_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    cognito = stack.client("cognito-idp")
    access = cognito.initiate_auth(
        ClientId=stack.info["user_pool_client_id"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": stack.info["username"], "PASSWORD": stack.info["password"]},
    )["AuthenticationResult"]["AccessToken"]
    unsigned = jwt.encode(_claims(stack), key="", algorithm="none")
    return {
        "garbage": "not-a-token",
        "forged signature": _sign(_claims(stack), own_key),
        "expired": _sign(_claims(stack, iat=now - 7200, exp=now - 3600), moto_key),
        "other pool": _sign(
            _claims(stack, iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"),
            moto_key,
        ),
        "other audience": _sign(_claims(stack, aud="another-client"), moto_key),
        "no audience": _sign(_claims(stack, aud=None), moto_key),
        "access token": access,
        "token_use access": _sign(_claims(stack, token_use="access"), moto_key),
        "alg none": unsigned,
        "alg none, signed-looking": unsigned + "c2ln",
        "HS256 with the public key": jwt.encode(
            _claims(stack),
            "a-shared-secret-long-enough-for-hs256!",
            algorithm="HS256",
            headers={"kid": "dummy"},
        ),
    }


def test_every_kind_of_bad_token_is_refused_with_401(local_stack: RunningStack) -> None:
    for name, token in _bad_tokens(local_stack).items():
        for header in (f"Bearer {token}", token):
            for method, path in (("GET", "/vpcs"), ("POST", "/vpcs")):
                response = requests.request(
                    method,
                    f"{local_stack.url}{path}",
                    headers={"Authorization": header, "Idempotency-Key": "k"},
                    json=body(110),
                )
                assert response.status_code == 401, (name, method, response.text)
                assert response.json()["Code"] == "UnauthorizedError"


def test_a_token_from_another_user_pool_is_refused(local_stack: RunningStack) -> None:
    cognito = local_stack.client("cognito-idp")
    pool = cognito.create_user_pool(PoolName=f"other-{uuid.uuid4()}")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool, ClientName="other", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    cognito.admin_create_user(UserPoolId=pool, Username="eve", MessageAction="SUPPRESS")
    cognito.admin_set_user_password(
        UserPoolId=pool, Username="eve", Password="Other-Passw0rd-123", Permanent=True
    )
    token = cognito.initiate_auth(
        ClientId=client,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "eve", "PASSWORD": "Other-Passw0rd-123"},
    )["AuthenticationResult"]["IdToken"]

    response = requests.get(f"{local_stack.url}/vpcs", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401


def test_missing_or_doubled_authorization_is_refused(local_stack: RunningStack, token: str) -> None:
    assert requests.get(f"{local_stack.url}/vpcs").status_code == 401
    doubled = subprocess.run(
        [
            "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
            "-H", f"Authorization: Bearer {token}",
            "-H", "Authorization: Bearer garbage",
            f"{local_stack.url}/vpcs",
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert doubled.stdout == "401"


def test_a_valid_token_is_accepted_bare_and_as_bearer(
    local_stack: RunningStack, token: str
) -> None:
    for header in (f"Bearer {token}", token, f"bearer {token}"):
        response = requests.get(f"{local_stack.url}/vpcs", headers={"Authorization": header})
        assert response.status_code == 200, header


# --- faults ------------------------------------------------------------------------------


def test_transient_ec2_failures_are_retried_and_the_request_succeeds(
    local_stack: RunningStack, api: requests.Session
) -> None:
    """CreateSubnet fails 4 times: more than one delivery's in-place retries (3), so
    the message goes back to SQS once, and the next delivery finishes the job. It
    comes back after the worker's retry delay (1 s), not the queue's visibility
    timeout (30 s)."""
    payload = body(120, subnets=2)
    local_stack.add_fault(
        service="ec2",
        operation="CreateSubnet",
        code="RequestLimitExceeded",
        status=503,
        times=4,
        match={"CidrBlock": "10.120.1.0/24"},
    )
    started = time.monotonic()
    request_id = submit(local_stack, api, payload)

    record = wait_for(local_stack, api, request_id)

    assert record["status"] == "SUCCEEDED", record
    assert time.monotonic() - started < 20
    assert record["attempts"] == 2
    [vpc] = vpcs_of(local_stack, request_id)
    assert len(subnets_of(local_stack, vpc["VpcId"])) == 2


def test_a_permanent_failure_rolls_back_everything(
    local_stack: RunningStack, api: requests.Session
) -> None:
    local_stack.add_fault(
        service="ec2",
        operation="CreateSubnet",
        code="SubnetLimitExceeded",
        status=400,
        times=1,
        match={"CidrBlock": "10.121.2.0/24"},
    )
    request_id = submit(local_stack, api, body(121, subnets=3))

    record = wait_for(local_stack, api, request_id)

    assert record["status"] == "FAILED"
    assert record["error"]["code"] == "SubnetLimitExceeded"
    assert record["rollback"]["complete"] is True
    assert vpcs_of(local_stack, request_id) == []


def test_a_message_that_keeps_failing_ends_in_the_dlq_with_the_record_failed(
    local_stack: RunningStack, api: requests.Session
) -> None:
    local_stack.add_fault(
        service="ec2",
        operation="CreateVpc",
        code="InternalError",
        status=500,
        times=-1,
        match={"CidrBlock": "10.122.0.0/16"},
    )
    started = time.monotonic()
    request_id = submit(local_stack, api, body(122))

    record = wait_for(local_stack, api, request_id, timeout=110)

    assert record["status"] == "FAILED", record
    assert record["error"]["code"] == "RetriesExhausted"
    assert time.monotonic() - started < 120
    sqs = local_stack.client("sqs")
    deadline = time.monotonic() + 30
    bodies: list[str] = []
    while time.monotonic() < deadline and request_id not in "".join(bodies):
        messages = sqs.receive_message(
            QueueUrl=local_stack.info["dlq_url"], MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        bodies.extend(m["Body"] for m in messages)
    assert json.dumps({"request_id": request_id}) in bodies
    assert vpcs_of(local_stack, request_id) == []


def test_a_vpc_a_lost_worker_left_behind_is_reconciled_within_a_minute(
    local_stack: RunningStack, api: requests.Session
) -> None:
    """A VPC tagged with a finished request but not its own (a worker that lost its lease
    made it): the stack's reconciler (every 10 s, grace 20 s) removes it and the record
    names it in `orphans`."""
    request_id = submit(local_stack, api, body(123, subnets=1))
    assert wait_for(local_stack, api, request_id)["status"] == "SUCCEEDED"
    tags = {
        "RequestId": request_id,
        "vpc-provisioner:deployment": local_stack.info["table_name"],
        "vpc-provisioner:created-at": "2020-01-01T00:00:00Z",
    }
    stray = local_stack.client("ec2").create_vpc(
        CidrBlock="10.123.0.0/16",
        TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ],
    )["Vpc"]["VpcId"]

    deadline = time.monotonic() + 60
    orphans: list[dict[str, Any]] = []
    # The intent is noted first (`removing`), the removal after DeleteVpc answered: a poll
    # may see the one before the other.
    while time.monotonic() < deadline and not (orphans and orphans[0]["removed_at"]):
        orphans = api.get(f"{local_stack.url}/vpcs/{request_id}").json()["orphans"]
        time.sleep(0.5)

    assert [o["id"] for o in orphans] == [stray], local_stack.log()[-3000:]
    assert orphans[0]["removed_at"]
    assert len(vpcs_of(local_stack, request_id)) == 1


# --- AWS_ENDPOINT_URL ---------------------------------------------------------------------


def test_with_aws_endpoint_url_set_the_stack_uses_it_and_starts_no_moto(tmp_path: Path) -> None:
    moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto_server.start()
    host, port = moto_server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        stack = start_stack(
            tmp_path,
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "x",
                "AWS_SECRET_ACCESS_KEY": "x",
            },
        )
        try:
            assert stack.info["aws_endpoint_url"] == endpoint
            tables = stack.client("dynamodb").list_tables()["TableNames"]
            assert stack.info["table_name"] in tables
            token = stack.id_token()
            response = requests.get(f"{stack.url}/vpcs", headers={"Authorization": token})
            assert response.status_code == 200
        finally:
            assert stop_stack(stack) == 0
    finally:
        moto_server.stop()

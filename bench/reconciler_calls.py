"""Benchmark: the AWS calls of one reconciler run over 1,000 SUCCEEDED requests (the drift check).

The drift check compares every SUCCEEDED request with EC2; its cost must grow with
pages of Describe and Query answers, not with one call per request. This runs the real
reconciler in-process against moto, with BENCH_REQUESTS (1,000) SUCCEEDED requests
seeded directly (each a VPC and two subnets, every tenth with a public subnet: an
internet gateway and a route table), their records settled, and prints the calls of:

- a run where EC2 matches every record (the steady state);
- a run after 10 subnets were deleted out of band (each then read by id once);
- a run after that, the drift recorded (gone is gone: no read by id again);
- a run after 10 VPCs' main route tables were routed to the internet (each exposes a
  private subnet: the table is read by id, and the tables associated with the subnet
  listed, once);
- a run whose every Describe lags (answers empty): the closer looks are bounded by
  DRIFT_CONFIRM_LIMIT, whatever the number of requests.

    make bench            # or: .venv/bin/python -m bench.reconciler_calls --requests 200

moto's own EC2 tag lookups are made direct (as the local stack's moto does), so that
seeding and listing stay quick; that changes moto's speed, not the calls made.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import Counter
from typing import Any

from moto import mock_aws

from bench import against_moto
from chalicelib import wiring
from chalicelib.aws.clients import AwsClients
from chalicelib.aws.ec2 import CREATED_AT_TAG, DEPLOYMENT_TAG, REQUEST_ID_TAG
from chalicelib.clock import iso_timestamp, sort_timestamp
from chalicelib.config import Settings
from chalicelib.models import RequestRecord, Status, SubnetState
from chalicelib.request_spec import ProvisioningRequest, SubnetSpec, VpcSpec
from chalicelib.store.items import record_to_item, serialize
from devstack.fault_injector import FaultInjector
from devstack.moto_fixes import direct_ec2_tags
from devstack.resources import create_table

REGION = "us-east-1"
TABLE = "bench-drift"
READS = {
    "DescribeVpcs": "Vpcs",
    "DescribeSubnets": "Subnets",
    "DescribeInternetGateways": "InternetGateways",
    "DescribeRouteTables": "RouteTables",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="SUCCEEDED requests")
    args = parser.parse_args()
    against_moto(REGION)
    direct_ec2_tags()
    logging.disable(logging.WARNING)  # the run's own lines: its report is what is printed
    with mock_aws():
        rows = run(args.requests)
    print(f"reconciler run over {args.requests} SUCCEEDED requests (drift check and orphans)")
    print(f"{'run':58} {'AWS calls':>9} {'s, moto':>8}  calls")
    for name, calls, seconds in rows:
        detail = ", ".join(f"{op} {n}" for (_, op), n in sorted(calls.items()))
        print(f"{name:58} {sum(calls.values()):>9} {seconds:>8.1f}  {detail}")


def run(requests: int) -> list[tuple[str, Counter[tuple[str, str]], float]]:
    clients = AwsClients(REGION)
    create_table(clients.dynamodb, TABLE)
    now = time.time()
    settings = Settings(table_name=TABLE, queue_url="", region=REGION)
    records = [_seed(clients, i, now - 3600) for i in range(requests)]
    faults = FaultInjector()
    for client in (clients.dynamodb, clients.ec2):
        faults.attach(client)
    # Each run as far apart as the records need to settle again after a drift note.
    clock = [now]
    services = wiring.build(settings, clients, clock=lambda: clock[0])
    rows = []

    def measure(name: str) -> Any:
        faults.reset_counts()
        clock[0] += settings.drift_settle_seconds + 2
        started = time.perf_counter()
        report = services.reconciler.run()
        rows.append((name, Counter(faults.calls), time.perf_counter() - started))
        return report

    report = measure("EC2 matches every record")
    assert report.drift.drifted == 0, report.drift
    # Up to 10 requests, spread over all of them (any --requests: 10 when there are 15).
    drifted = records[5 :: max(1, (requests - 5) // 10)][:10]
    for record in drifted:
        clients.ec2.delete_subnet(SubnetId=record.subnets[1].subnet_id)
    report = measure(f"{len(drifted)} subnets deleted out of band (each read by id once)")
    assert report.drift.drifted == len(drifted), report.drift
    report = measure("the next run, that drift recorded")
    assert (report.drift.drifted, report.drift.changed) == (len(drifted), []), report.drift
    # Up to 10 public requests whose VPC's main route table someone routed to the internet.
    exposed = [r for r in records if r.internet_gateway_id and r not in drifted][:10]
    for record in exposed:
        main = clients.ec2.describe_route_tables(
            Filters=[
                {"Name": "vpc-id", "Values": [str(record.vpc_id)]},
                {"Name": "association.main", "Values": ["true"]},
            ]
        )["RouteTables"][0]["RouteTableId"]
        clients.ec2.create_route(
            RouteTableId=main,
            DestinationCidrBlock="0.0.0.0/0",
            GatewayId=record.internet_gateway_id,
        )
    report = measure(f"{len(exposed)} main tables routed to the internet (2 reads each)")
    assert report.drift.drifted == len(drifted) + len(exposed), report.drift
    for operation, key in READS.items():
        faults.stale("ec2", operation, key, times=-1)
    report = measure(f"every Describe lags (DRIFT_CONFIRM_LIMIT {settings.drift_confirm_limit})")
    assert (report.drift.drifted, report.drift.changed) == (len(drifted + exposed), []), (
        report.drift
    )
    faults.clear()
    return rows


def _seed(clients: AwsClients, index: int, when: float) -> RequestRecord:
    """A SUCCEEDED request as the worker leaves it: EC2's resources, tagged, and its record."""
    request_id = f"00000000-0000-4000-8000-{index:012d}"
    tags = {
        REQUEST_ID_TAG: request_id,
        DEPLOYMENT_TAG: TABLE,
        CREATED_AT_TAG: iso_timestamp(when),
    }

    def spec(kind: str) -> list[dict[str, Any]]:
        return [{"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]

    ec2 = clients.ec2
    cidr = f"10.{index // 250}.{(index % 250)}.0/24"
    # Each request's VPC is a /24 here (many fit in 10.0.0.0/8); its subnets two /26.
    base = cidr.rsplit(".", 1)[0]
    vpc_id = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=spec("vpc"))["Vpc"]["VpcId"]
    public = index % 10 == 0
    subnets = [SubnetState(f"{base}.{64 * i}/26", f"{REGION}{'ab'[i]}") for i in range(2)]
    for state in subnets:
        state.subnet_id = ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=state.cidr,
            AvailabilityZone=state.az,
            TagSpecifications=spec("subnet"),
        )["Subnet"]["SubnetId"]
    gateway = table = None
    if public:
        gateway = ec2.create_internet_gateway(TagSpecifications=spec("internet-gateway"))[
            "InternetGateway"
        ]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc_id)
        table = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=spec("route-table"))[
            "RouteTable"
        ]["RouteTableId"]
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnets[0].subnet_id)
        ec2.modify_subnet_attribute(
            SubnetId=str(subnets[0].subnet_id), MapPublicIpOnLaunch={"Value": True}
        )
    record = RequestRecord(
        request_id=request_id,
        status=Status.SUCCEEDED,
        created_by="bench",
        created_by_username="bench",
        created_at=iso_timestamp(when),
        created_sort=sort_timestamp(when + index / 1000),
        updated_at=iso_timestamp(when),
        request=ProvisioningRequest(
            VpcSpec(cidr),
            tuple(
                SubnetSpec(s.cidr, s.az, public=public and i == 0) for i, s in enumerate(subnets)
            ),
        ),
        vpc_id=vpc_id,
        subnets=subnets,
        internet_gateway_id=gateway,
        route_table_id=table,
        attempts=1,
        version=3,
    )
    clients.dynamodb.put_item(TableName=TABLE, Item=serialize(record_to_item(record)))
    return record


if __name__ == "__main__":
    main()

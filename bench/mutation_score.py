"""The score of `make mutate`: mutants killed, survived, and the rest, per file and in all.

`TARGETS` are the functions that delete, or record a deletion, or decide that something
may be deleted (or, for drift, is missing): the reconciler, the drift check, the
teardown, DELETE, the rollback, and the store and EC2 helpers they rest on
(`python -m bench.mutation_score --targets` prints them as mutmut's mutant-name globs).
Reads what mutmut wrote (`mutants/**/*.py.meta`: each mutant's pytest exit code)
without importing mutmut, and lists the survivors (`.venv-mutmut/bin/mutmut show
<name>` shows one's diff).
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections import Counter
from pathlib import Path

# module: functions ("Class.method" or "function").
TARGETS = {
    "aws.calls": [
        "Ec2Calls.change",
        "Ec2Calls.delete",
        "Ec2Calls._proven_gone",
        "Ec2Calls._gone",
        "Ec2Calls.found_not_found",
        "Ec2Calls.fresh",
    ],
    "aws.teardown": [
        "Teardown.request",
        "Teardown._doubting",
        "Teardown._request",
    ],
    "aws.ownership": ["Ownership.unclaimed", "Ownership.untagged", "Ownership.kept"],
    # Which deletions a delete answered for (gone for good), and which only "not found".
    "models": ["DeletionReport.answered"],
    "store.items": ["_report_from_item"],
    "aws.dependency_order": [
        "DependencyOrder.remove",
        "DependencyOrder._what_holds",
        "DependencyOrder._delete_subnet",
        "_left",
    ],
    "aws.routing_teardown": [
        "RoutingTeardown.remove_tables",
        "RoutingTeardown._remove_table",
        "RoutingTeardown.remove_gateways",
    ],
    "aws.tally": [
        "Progress.record",
        "Progress.removal",
        "held",
        "unlooked",
        "left_alone",
        "with_claimed",
        "with_earlier",
        "merged",
        "report",
    ],
    "upkeep.reconciler": [
        "Reconciler.run",
        "Reconciler._checked",
    ],
    "upkeep.orphan_removal": [
        "OrphanRemoval.run",
        "OrphanRemoval._remove",
        "OrphanRemoval._note",
        "OrphanRemoval._save",
    ],
    "upkeep.orphans": [
        "work_of",
        "orphans_of",
        "_unlisted_names",
        "_long_in_its_status",
        "_found_nothing_left",
        "comes_back",
        "is_old",
        "after",
        "intended",
        "noted",
    ],
    # What decides that something is missing (drift) or may be adopted in its place.
    "upkeep.drift": [
        "DriftCheck.check",
        "DriftCheck._settled",
        "DriftCheck._observe",
    ],
    "upkeep.drift_confirmation": [
        "Confirmation.confirmed",
        "Confirmation._needed",
        "Confirmation._look",
        "Confirmation._subnets",
        "Confirmation._within_budget",
        "Confirmation._one",
        "_sources",
        "_named_tables",
    ],
    "upkeep.differences": [
        "compare",
        "merged",
        "adopt",
        "_tag_problems",
        "_attachment_problems",
        "_route_items",
        "_exposure",
        "route_tables",
        "routing_table",
        "unconfirmed",
    ],
    "aws.inventory": [
        "Inventory.sweep",
        "Inventory._ours",
        "Inventory.described",
        "Inventory.tables_in",
        "Inventory.one",
    ],
    "aws.described": ["seen_of", "_to_internet"],
    "store.drift": ["DriftStore.save"],
    # A foreign VPC's block held, or shared, never one its own request holds.
    "store.blocks": ["AddressBlocks.hold_foreign"],
    # Not holding a VPC of ours is the freeing direction: only on its record's proof.
    "upkeep.pools": ["PoolKeeper.run", "PoolKeeper._foreign", "PoolKeeper._deleted_since"],
    "api.delete_request": [
        "DeleteService.delete",
        "DeleteService._next_deletion_step",
    ],
    "worker.delete_job": [
        "DeleteJob.run",
        "DeleteJob.give_up",
        "DeleteJob._failed",
        "DeleteJob._write",
        "DeleteJob._untried",
        "DeleteJob._left",
    ],
    "worker.job_runner": ["JobRunner.run", "_ended_lately"],
    # The dead letters the reaper deletes.
    "upkeep.reaper": ["Reaper._sweep"],
    "worker.rollback": [
        "Rollback.start",
        "Rollback.resume",
        "Rollback._uncertain",
        "_failed",
    ],
    "resource_ids": [
        "Resources.of",
        "known_resources",
        "only_remaining",
        "holds_nothing",
        "has_ended",
        "said_to_remain",
        "unanswered",
        "settled",
        "gone_for_good",
    ],
    "store.reconciler": [
        "ReconcilerStore.claim_run",
        "ReconcilerStore.release_run",
        "ReconcilerStore.save",
        "ReconcilerStore.settle",
    ],
    "store.ledger": ["LedgerEntries.add_pending", "ledger_of"],
    "store.table": ["version_condition", "Table._batch_get", "records_of", "Table.named_in"],
    "store.api": ["RequestStore.move", "RequestStore._update_putting_back"],
    "store.worker": ["WorkerStore.transition", "WorkerStore.named_by_records"],
    "aws.ec2": [
        "not_found",
        "Ec2Gateway.vpc_gone",
        "Ec2Gateway.subnet_gone",
        "Ec2Gateway.find_vpcs",
        "every",
    ],
    "aws.routing": [
        "RoutingGateway.internet_gateway_gone",
        "RoutingGateway.route_table_gone",
        "RoutingGateway.network_interfaces",
        "RoutingGateway._gateways",
        "RoutingGateway._tables",
    ],
    # What a creation takes for the request's own VPC, or removes as its duplicate.
    "worker.create_job": [
        "CreateJob._provision",
        "CreateJob._find_vpc",
        "CreateJob._tagged_vpcs",
        "CreateJob._remove_duplicates",
    ],
    "worker.subnets": ["Subnets.ensure", "Subnets._adopt"],
    # What an "already done" answer stands for: ours, someone else's, or an earlier
    # attempt's copy to move.
    "worker.already_done": [
        "AlreadyDone.attached",
        "AlreadyDone.routed",
        "AlreadyDone.associated",
    ],
}


def target_globs() -> list[str]:
    """mutmut's names of the targets' mutants, as globs."""
    bar = "\u01c1"  # mutmut's separator: xǁClassǁmethod, x_function
    globs = []
    for module, functions in TARGETS.items():
        for function in functions:
            parts = function.split(".")
            mangled = "x" + bar + bar.join(parts) if len(parts) > 1 else f"x_{function}"
            globs.append(f"chalicelib.{module}.{mangled}__mutmut_*")
    return globs


# mutmut's meaning of each exit code (mutmut/stats.py); anything else is "suspicious".
STATUS = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    37: "caught by type check",
    24: "timeout",
    -24: "timeout",
    152: "timeout",
    255: "timeout",
    None: "not checked",
}


def main(root: Path = Path("mutants")) -> int:
    metas = sorted(root.rglob("*.py.meta"))
    if not metas:
        print("no mutmut results under mutants/: run `make mutate`", file=sys.stderr)
        return 1
    total: Counter[str] = Counter()
    survivors: list[str] = []
    globs = target_globs()
    for meta in metas:
        codes = {
            name: code
            for name, code in json.loads(meta.read_text()).get("exit_code_by_key", {}).items()
            if any(fnmatch.fnmatchcase(name, g) for g in globs)
        }
        if not codes:
            continue
        counts = Counter(STATUS.get(code, "suspicious") for code in codes.values())
        total.update(counts)
        survivors += sorted(k for k, code in codes.items() if STATUS.get(code) == "survived")
        source = meta.relative_to(root).with_suffix("")
        print(f"{source}: {_line(counts)}")
    print(f"all: {_line(total)}")
    for name in survivors:
        print(f"  survived: {name}")
    if not total["killed"] + total["survived"]:
        print("no mutant was checked: read mutmut's output above", file=sys.stderr)
        return 1
    return 0


def _line(counts: Counter[str]) -> str:
    decided = counts["killed"] + counts["survived"] + counts["timeout"]
    # A mutant that makes the tests hang is caught too (the suite fails on it).
    caught = counts["killed"] + counts["timeout"] + counts["caught by type check"]
    score = f"{100 * caught / (decided + counts['caught by type check']):.0f}%" if decided else "-"
    rest = ", ".join(
        f"{n} {s}" for s, n in sorted(counts.items()) if s not in ("killed", "survived")
    )
    killed, survived = counts["killed"], counts["survived"]
    return f"{score} caught ({killed} killed, {survived} survived; {rest or 'none else'})"


if __name__ == "__main__":
    if sys.argv[1:] == ["--targets"]:
        print("\n".join(target_globs()))
        sys.exit(0)
    sys.exit(main())

"""The address upkeep's backfill (upkeep/pools.py, step 0): records from before pools get
their allocation (held, shared when they overlap, released when they have ended), a page
at a time; a marker item says where it stands, and that it is done once a full pass
wrote every record. Until it is done, the VPCs of this deployment are left to it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network

from chalicelib.addresses import Pool, pool_of
from chalicelib.errors import BackendFailure
from chalicelib.models import SHARED
from chalicelib.resource_ids import has_ended
from chalicelib.store.pools import BACKFILL_ID, PoolStore

logger = logging.getLogger(__name__)

# Pages of the listing the backfill looks at per run.
_PAGES_PER_RUN = 20


@dataclass
class Backfill:
    """What one run's part of the backfill did: whether it is done, the records written."""

    done: bool = False
    written: int = 0
    errors: list[str] = field(default_factory=list)


def backfill_records(store: PoolStore, pools: Sequence[Pool]) -> Backfill:
    """One run's part of the backfill (never raises for DynamoDB's failures: reported)."""
    result = Backfill()
    try:
        position = store.pass_position(BACKFILL_ID)
        if position is True:
            result.done = True
            return result
        after = position if isinstance(position, dict) else None
        for _ in range(_PAGES_PER_RUN):
            page = store.records_page(after)
            for record in page.records:
                if record.allocation or not record.cidr:
                    continue
                pool = pool_of(pools, IPv4Network(record.cidr))
                written = store.backfill(record, has_ended(record), pool.name if pool else None)
                if written is None:
                    # Moved on: the pass is not complete; the next one starts over.
                    store.note_pass(BACKFILL_ID, None, done=False)
                    return result
                if written == SHARED:
                    # A POST took its block before this pass (docs/operating.md).
                    logger.warning(
                        "address backfill: request %s (%s) overlaps a block held "
                        "since: the networks overlap, its block is recorded shared",
                        record.request_id,
                        record.cidr,
                    )
                result.written += 1
            after = page.after
            if after is None:
                store.note_pass(BACKFILL_ID, None, done=True)
                result.done = True
                return result
        store.note_pass(BACKFILL_ID, after, done=False)
    except BackendFailure as exc:
        result.errors.append(str(exc))
    return result

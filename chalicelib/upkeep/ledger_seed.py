"""The reconciler's ledger seed: once per stage, a pass over every record (a few pages per
run, store/passes.py) puts on the ledger those a run must come back to (`comes_back`:
a FAILED request that still names something, an orphan noted and not removed; not one at
work, which its worker puts there if it ends FAILED leaving something). Records written
before the ledger existed (or before a noted orphan kept its request on it) were never
put there: once EC2 listed nothing of them, no run read them again, and a FAILED record
named a VPC a person had since removed, its addresses held, for good.
"""

from __future__ import annotations

import logging

from chalicelib.errors import BackendFailure
from chalicelib.models import CLAIMABLE_STATUSES
from chalicelib.store.ledger import Ledger
from chalicelib.store.reconciler import ReconcilerStore
from chalicelib.upkeep.orphans import comes_back

logger = logging.getLogger(__name__)

# Pages of the listing (100 records each) one run looks at.
_PAGES_PER_RUN = 20


def seed_ledger(store: ReconcilerStore, ledger: Ledger, owner: str) -> Ledger:
    """One run's part of the seed (the run `owner`, under way); the ledger as it then is.
    Where it stands is on the ledger itself, read by the run's claim: once done, a run
    makes no call for it. Never raises for DynamoDB's failures: the next run goes on
    from where the last noted position says."""
    if ledger.seeded:
        return ledger
    after = ledger.seed_after
    try:
        for _ in range(_PAGES_PER_RUN):
            page = store.records_page(after)
            back = [
                r.request_id
                for r in page.records
                if comes_back(r) and r.status not in CLAIMABLE_STATUSES
            ]
            if back:
                ledger = store.add_pending(back)
            after = page.after
            if after is None:
                store.note_seed(owner, None, done=True)
                return ledger
        store.note_seed(owner, after, done=False)
    except BackendFailure as exc:
        logger.warning("ledger seed: %s; the next run goes on", exc)
    return ledger

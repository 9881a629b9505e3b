"""The scheduled functions: `reaper` (every 5 minutes, policy-reaper.json) and `reconciler`
(every 3, policy-reconciler.json).

What runs here: the reaper sends stalled requests to the worker again and keeps the
dead-letter queue to FAILED requests; the reconciler removes, on proof only, what
carries this deployment's tags and no record references (`orphan_removal`: reads the
records, deletes, notes; `orphans`, pure: which they are, and the notes on their
records), and first compares every
SUCCEEDED request with EC2 (`drift`, with `differences`, pure, `drift_confirmation`,
its reads by id before a finding counts, and `drift_log`, its log line per change):
its record says how EC2 differs, on proof only too. `pools`,
the address upkeep, runs just before the reconciler: it holds the blocks of VPCs this
deployment did not make and frees those of ended requests (and, once, gives records
from before pools their allocation and puts those from before the ledger on it).

They may touch: the table through `store.reaper` / `store.reconciler`, `store.drift`
and `store.pools` (the reconciler's), with the shared `store.blocks` and
`store.block_tree` (the address blocks), the queues through `aws.jobs`, EC2 through
`aws` (the reconciler: list, read by id and delete). They never import the API's or
the worker's code, nor their functions' table access.
"""

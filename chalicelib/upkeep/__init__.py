"""The scheduled functions: `reaper` (every 5 minutes, policy-reaper.json) and `reconciler`
(every 10, policy-reconciler.json).

What runs here: the reaper sends stalled requests to the worker again and keeps the
dead-letter queue to FAILED requests; the reconciler removes, on proof only, what
carries this deployment's tags and no record references.

They may touch: the table through `store.reaper` / `store.reconciler`, the queues
through `aws.jobs`, EC2 through `aws` (the reconciler: list and delete). They never
import the API's or the worker's code.
"""

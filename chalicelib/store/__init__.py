"""The DynamoDB single table, and one data-access class per function that uses it.

`table` defines the layout (keys, indexes, TTL) and the item <-> record
mapping once; the local stack and both deployment outputs import it from
there. Each other module holds exactly what one Lambda function's IAM policy
allows: `api` (api_handler), `worker`, `reaper`, `reconciler` (and `drift`, the
reconciler's drift check, under the same policy).
"""

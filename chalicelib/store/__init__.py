"""The DynamoDB single table, and one data-access class per function that uses it.

`layout` defines the layout (item types, keys, indexes, TTL) once, and `schema` the
table's definition from it (which only the local stack and both deployment outputs
import: it does not ship). `items` maps request items to
records and back, and converts values to and from DynamoDB's format. `table` makes
the DynamoDB calls the data-access classes share. Each data-access module holds exactly
what one Lambda function's IAM policy allows: `api` (api_handler; its POST's
transaction, the request with its idempotency lock, in `admission`, its listings in
`listing`), `worker` (its claims, leases and checkpoints in `claims`), `reaper`,
`reconciler` (and `drift`, the reconciler's drift check, and `pools`, the address
upkeep, under the same policy). Below them, shared:
`block_tree` (the address-block items that refuse an overlap, and the transactions that
hold, share and free a block), `blocks` (a pool's blocks as read, and their release),
`quota` (each user's live requests) and `ledger` (the requests the reconciler must come
back to: the reconciler's, which the worker adds a FAILED request to that leaves something).

It may import only the core (models, errors, clock, addresses, ...): never a role's
package, nor `aws`.
"""

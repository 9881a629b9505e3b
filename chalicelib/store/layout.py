"""The table's layout: its item types, keys, indexes and TTL attribute.

Layout (docs/how-it-works.md, the table):

- request items: `request_id` = the id, `type` = VPC_REQUEST, the record's
  fields, and the keys of three sparse indexes: `list_pk` + `created_sort`
  (index `by_created`, the listing), `status` + `created_sort` (index
  `by_status`: the listing by status, and the requests that need another
  push) and `created_by` + `created_sort` (index `by_creator`: "mine"); and, only
  while the record shows drift, `drift_pk` + `created_sort` (index `by_drift`: the
  drifted requests; the reconciler sets and removes `drift_pk` with the drift itself).
- address-block items (store/blocks.py): `request_id` = `block#<cidr>`, the block's
  holder and pool (`pool_pk`, index `by_pool`), or an ancestor's count.
- lock items: `request_id` = `lock#<sub>#<key>`, `type` = IDEMPOTENCY_LOCK,
  `target_request_id`, `body_hash`, `ttl_epoch` (the table's TTL attribute).
  They carry neither index key, so they never appear in a listing.

The table's definition (its key schema, attributes and indexes, for the local stack and
both deployment outputs) is `schema`'s, which no function imports (so it does not ship).
`items` maps request items to records and back, and converts values to and from
DynamoDB's format.
"""

from __future__ import annotations

REQUEST_TYPE = "VPC_REQUEST"
LOCK_TYPE = "IDEMPOTENCY_LOCK"
LIST_INDEX = "by_created"
STATUS_INDEX = "by_status"
# Each caller's own requests (GET /vpcs?created_by=me): `created_by` + `created_sort`.
CREATOR_INDEX = "by_creator"
# The requests whose record shows drift (GET /vpcs?drift=true): sparse, only they carry
# `drift_pk` (always DRIFT_PARTITION) + `created_sort`.
DRIFT_INDEX = "by_drift"
DRIFT_PARTITION = "DRIFTED"
# The address blocks held in each pool: `pool_pk` (store/blocks.py).
POOL_INDEX = "by_pool"
LIST_PARTITION = REQUEST_TYPE
# The attributes of a position in the listing index (DynamoDB's LastEvaluatedKey).
LIST_KEY_ATTRIBUTES = ("request_id", "list_pk", "created_sort")
CREATOR_KEY_ATTRIBUTES = ("request_id", "created_by", "created_sort")
DRIFT_KEY_ATTRIBUTES = ("request_id", "drift_pk", "created_sort")
# The record's version attribute (models.RequestRecord.version).
VERSION = "version"

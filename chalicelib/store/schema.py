"""The table's definition: its key schema, attributes and indexes (their names are
`layout`'s). The local stack creates the table from it (devstack/resources.py), and both
deployment outputs describe it with it (infra/cloudformation.py,
infra/terraform_backing.py). No Lambda function imports it: it does not ship in the zip.
"""

from __future__ import annotations

from typing import Any

from chalicelib.store.layout import (
    CREATOR_INDEX,
    DRIFT_INDEX,
    LIST_INDEX,
    POOL_INDEX,
    STATUS_INDEX,
)

# The lock items' expiry (store/admission.py writes it), DynamoDB's TTL attribute.
TTL_ATTRIBUTE = "ttl_epoch"

KEY_SCHEMA = [{"AttributeName": "request_id", "KeyType": "HASH"}]
ATTRIBUTES = [
    {"AttributeName": "request_id", "AttributeType": "S"},
    {"AttributeName": "list_pk", "AttributeType": "S"},
    {"AttributeName": "status", "AttributeType": "S"},
    {"AttributeName": "created_sort", "AttributeType": "S"},
    {"AttributeName": "created_by", "AttributeType": "S"},
    {"AttributeName": "drift_pk", "AttributeType": "S"},
    {"AttributeName": "pool_pk", "AttributeType": "S"},
]


def _by_created(name: str, partition: str) -> dict[str, Any]:
    """A listing index: items of one `partition` value, by their creation time."""
    return {
        "IndexName": name,
        "KeySchema": [
            {"AttributeName": partition, "KeyType": "HASH"},
            {"AttributeName": "created_sort", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }


INDEXES: list[dict[str, Any]] = [
    _by_created(LIST_INDEX, "list_pk"),
    _by_created(STATUS_INDEX, "status"),
    _by_created(CREATOR_INDEX, "created_by"),
    _by_created(DRIFT_INDEX, "drift_pk"),
    {
        # The address blocks of one pool (store/blocks.py): first fit and GET /pools.
        "IndexName": POOL_INDEX,
        "KeySchema": [{"AttributeName": "pool_pk", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["cidr", "holder"]},
    },
]

"""A batch read proves only what DynamoDB answered (no AWS: a scripted client).

BatchGetItem reads up to 100 keys, strongly consistent; under throttling it answers 200
and hands keys back in `UnprocessedKeys` (and may leave `Responses` out altogether).
Keys handed back are asked again after jittered, growing waits; those never answered
are *unknown*, never absent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.store.items import serialize
from chalicelib.store.table import Table

TABLE = "t"


class ScriptedDynamoDB:
    """Answers BatchGetItem from `existing` ids, handing back the keys `back` chooses."""

    def __init__(
        self, existing: set[str], back: Callable[[int, list[str]], list[str]] | None = None
    ) -> None:
        self.existing = existing
        self.back = back or (lambda call, ids: [])
        self.calls: list[dict[str, Any]] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        request = RequestItems[TABLE]
        self.calls.append(request)
        ids = [key["request_id"]["S"] for key in request["Keys"]]
        back = self.back(len(self.calls), ids)
        items = [
            serialize({"request_id": i, "type": "OTHER"})
            for i in ids
            if i in self.existing and i not in back
        ]
        answer: dict[str, Any] = {}
        if items:  # DynamoDB may leave out what it has nothing for
            answer["Responses"] = {TABLE: items}
        if back:
            keys = [{"request_id": {"S": i}} for i in back]
            answer["UnprocessedKeys"] = {TABLE: {"Keys": keys, "ConsistentRead": True}}
        return answer


def read(client: ScriptedDynamoDB, ids: list[str], waits: list[float]) -> Any:
    return Table(client, TABLE, waits.append)._batch_get(ids)


def test_every_key_of_every_hundred_is_asked_once_and_consistently() -> None:
    ids = [f"r{i:03d}" for i in range(250)]
    client = ScriptedDynamoDB(existing=set(ids[:240]))
    waits: list[float] = []

    result = read(client, ids, waits)

    assert [len(c["Keys"]) for c in client.calls] == [100, 100, 50]
    assert all(c["ConsistentRead"] is True for c in client.calls)
    assert sorted(result.items) == ids[:240]
    assert result.absent == frozenset(ids[240:])
    assert result.unknown == frozenset()
    assert waits == []


def test_keys_always_handed_back_are_unknown_after_five_rounds_and_four_jittered_waits() -> None:
    ids = ["a", "b", "c"]
    client = ScriptedDynamoDB(existing={"a"}, back=lambda call, asked: asked)  # all, always
    waits: list[float] = []

    result = read(client, ids, waits)

    assert len(client.calls) == 5
    assert result.items == {}
    assert result.absent == frozenset()
    assert result.unknown == frozenset(ids)  # "b", "c" do not exist: still not "absent"
    assert len(waits) == 4
    assert all(0 <= w <= 1.0 for w in waits)


def test_the_waits_grow_and_are_jittered() -> None:
    client = ScriptedDynamoDB(existing=set(), back=lambda call, asked: asked)
    rounds: list[list[float]] = [[] for _ in range(40)]
    for waits in rounds:
        read(client, ["a"], waits)
    firsts = [w[0] for w in rounds]
    lasts = [w[-1] for w in rounds]
    assert len(set(firsts)) > 10  # jittered
    assert max(firsts) <= 0.05 < max(lasts)  # the cap grows with each round


def test_keys_handed_back_then_answered_count_as_read() -> None:
    ids = ["a", "b", "c", "d"]
    # The first answer hands back the last two; the second reads them.
    client = ScriptedDynamoDB(
        existing={"a", "c"}, back=lambda call, asked: asked[2:] if call == 1 else []
    )
    waits: list[float] = []

    result = read(client, ids, waits)

    assert [len(c["Keys"]) for c in client.calls] == [4, 2]
    assert sorted(result.items) == ["a", "c"]
    assert result.absent == frozenset({"b", "d"})
    assert result.unknown == frozenset()
    assert len(waits) == 1

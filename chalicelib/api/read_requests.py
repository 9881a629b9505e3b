"""GET /vpcs/{id}, GET /vpcs and GET /pools: read one request, list a page of them, and
report the address pools' use.

A read is one GetItem; a page is one Query on the listing's own index (whichever the
listing), its `next_token` signed and checked by `pagination` (the query parameters are
parsed by `query`); the pools' use is one Query per pool (more
for pools smaller than a /16 that share one: held_blocks.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.api.address_planner import AddressPlanner
from chalicelib.api.echo import quote
from chalicelib.api.pagination import PageTokenCodec
from chalicelib.api.query import ListFilter
from chalicelib.errors import NotFound, backend
from chalicelib.models import Caller, RequestRecord, is_request_id
from chalicelib.store.api import RequestStore
from chalicelib.store.listing import ALL_REQUESTS, DRIFTED_REQUESTS, Listing, by_creator, by_status


@dataclass(frozen=True)
class Page:
    """One page of a listing: its records, and the token of the next (None: the last)."""

    records: list[RequestRecord]
    next_token: str | None


class ReadService:
    """Reads and lists provisioning requests, and the address pools' use."""

    def __init__(
        self,
        store: RequestStore,
        addresses: AddressPlanner,
        page_token_key: bytes | Callable[[], bytes],
    ) -> None:
        """`addresses`: the POSTs' planner (its pools, and the blocks it keeps: GET /pools
        reads them afresh for the next POST too); `page_token_key`: the listing tokens'
        key, or a function that fetches it."""
        self._store = store
        self._addresses = addresses
        self._tokens = PageTokenCodec(page_token_key)

    def pools(self) -> list[dict[str, object]]:
        """GET /pools: each address pool's use. Raises BackendUnavailable."""
        return self._addresses.usage()

    def get(self, request_id: str) -> RequestRecord:
        """The record of `request_id`. Raises NotFound (also for ids of the wrong form)."""
        if not is_request_id(request_id):
            raise NotFound(f"No request with id {quote(request_id)}.")
        record = backend(lambda: self._store.get(request_id))
        if record is None:
            raise NotFound(f"No request with id {quote(request_id)}.")
        return record

    def list(
        self,
        limit: int,
        next_token: str | None,
        which: ListFilter | None = None,
        caller: Caller | None = None,
    ) -> Page:
        """A page of records, newest first: all of them, those in one status, the caller's,
        or those whose record shows drift.

        Each listing is one Query on its own index. A `next_token` is bound to
        the listing that issued it (and to the status, or the caller, it shows):
        raises BadRequest for a token that is not ours or not this listing's.
        """
        scope, listing = self._listing(caller, which or ListFilter())
        start = (
            self._tokens.decode(
                next_token,
                scope,
                listing.key_attributes,
                fixed={listing.partition_attribute: listing.partition_value},
            )
            if next_token is not None
            else None
        )
        records, position = backend(lambda: self._store.list_page(limit, start, listing))
        token = self._tokens.encode(position, scope) if position else None
        return Page(records, token)

    @staticmethod
    def _listing(caller: Caller | None, which: ListFilter) -> tuple[str, Listing]:
        """The token scope and the index query of a listing."""
        if which.status is not None:
            return "status", by_status(which.status)
        if which.mine:
            if caller is None:
                raise TypeError("listing the caller's own requests needs the caller")
            return "created_by", by_creator(caller.sub)
        if which.drifted:
            return "drift", DRIFTED_REQUESTS
        return "all", ALL_REQUESTS

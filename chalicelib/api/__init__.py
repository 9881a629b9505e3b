"""The API's use cases, run by the `api_handler` function (policy-api.json).

What runs here: accepting a request (`submit_request`: validate, store with its
idempotency lock, enqueue), reading and listing them and the pools' use
(`read_requests`, with `query` for the listing's parameters and `pagination` for its
tokens), and DELETE (`delete_request`: cancel, or record DELETING and enqueue a teardown
job). `address_planner` plans a request's addresses and reports the pools' use: it
picks a sized VPC's block in its pool with `first_fit`, from the pool's blocks as
`held_blocks` last read them (a few seconds), and settles a block the table says is
taken with `block_conflicts`; `quota` keeps each user to their limit of live requests.
`auth` reads the caller from the authorizer's claims; `json_body` parses a POST's body,
`validation` holds its fields' rules and `idempotency_key` its header's, and `echo`
what a message shows of a value a client sent.

It may touch: the table through `store.api`, `store.admission` and `store.listing` (with
its address blocks, `store.blocks`, and quota items, `store.quota`), the jobs queue
through `aws.jobs`, EC2's Availability Zones through `aws.zones`. It never imports the
worker's or the upkeep's code: an API cold start loads none of it.
"""

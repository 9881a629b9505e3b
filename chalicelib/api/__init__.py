"""The API's use cases, run by the `api_handler` function (policy-api.json).

What runs here: accepting a request (`requests`: validate, store with its idempotency
lock, enqueue), reading and listing them (`requests`, with `query` for the listing's
parameters and `pagination` for its tokens), and DELETE (`delete_request`: cancel, or
record DELETING and enqueue a teardown job). `auth` reads the caller from the
authorizer's claims; `validation` holds the input rules.

It may touch: the table through `store.api`, the jobs queue through `aws.jobs`, EC2's
Availability Zones through `aws.ec2`. It never imports the worker's or the upkeep's
code: an API cold start loads none of it.
"""

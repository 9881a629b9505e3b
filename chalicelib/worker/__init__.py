"""One job at a time, run by the `worker` function (policy-worker.json) for each SQS delivery.

What runs here: `handler` claims the request and decides what SQS does with the
message, `redelivery` when it comes back (and the dead letter), `job_report` the
delivery's `job` line and metrics; `job_runner` picks the run: `create_job` makes the
VPC, then its subnets (`subnets`, with `internet_access` for public ones, whose
"already done" answers `already_done` reads: ours, someone else's, or an earlier
attempt's copy to move out of the way), `rollback`
undoes a failed creation, `delete_job` is DELETE's teardown; `lease` holds the claim
(its renewals), `checkpoints` writes a create's ids as they appear, and `results` names
what a run and a delivery came to.

It may touch: EC2 through `aws` (create, change, delete, all fenced by the lease), the
table through `store.worker` (every write conditional on the claim's version), the
jobs queue and the dead-letter queue through `aws.jobs`. It never imports the API's or
the upkeep's code.
"""

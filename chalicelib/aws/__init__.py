"""How AWS is called, shared by every function: below the roles, above the core.

`clients` builds the boto3 clients once per process; `ec2` and `routing` make single
EC2 calls (tagged at creation, lookups scoped to the deployment); `zones` knows the
region's Availability Zones (the API's one EC2 question); `calls` is the call
discipline (creates never repeated blindly, changes confirmed, deletes counted only on
an answer, every call fenced); `faults` classifies an AWS failure (pure); `inventory`
is the reconciler's view of EC2 (one sweep of what carries our tags, and every route
table; closer looks by id),
`described` what a Describe answer says of each resource (pure);
`teardown` deletes a request's resources (what it finds by tag, and whether it is
complete), `ownership` first asks whose each is (its tags, other records' claims),
`dependency_order` in the order EC2 requires once no one's interface lives there (route
tables and internet gateways first, through `routing_teardown`), and `tally` (pure) says
what it came to; `jobs` is the SQS job queue and its dead-letter queue.

It may import only the core (models, errors, config, clock, backoff, logs, metrics):
never a role's package, nor the store.
"""

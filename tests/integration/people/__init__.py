"""A seeded randomized test of people's edits: between reconciler runs, people with
console access change EC2 behind the service's back, and the reconciler never destroys
what is live nor lies about it (docs/api.md "Drift"; docs/how-it-works.md "Convergence
never destroys and never lies", "Drift: the record stays true when people change EC2").

- test_people.py: the test (`make test` runs ten seeds, `make people` many more)
- world.py: EC2's ground truth (dead routes said as EC2 says them), names for resources
- console.py, actions.py, remakes.py, rearrangements.py: the people and their edits
- faults.py: what a run meets besides: lagging listings, throttled calls
- oracle.py: what must stay, and what a record must say once runs meet nothing
- conftest.py: the hooks on the app's EC2 client (taken off when the test ends), and
  `make people`'s seeds spread over the workers

In-process against moto, like the rest of tests/integration; imports only from there,
from chalicelib (tag names, errors, the reconciler's report) and devstack's fault injector.
"""

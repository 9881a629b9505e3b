"""Convergence never destroys and never lies (docs/how-it-works.md): the reconciler, the
teardown and DELETE act only on proof. One module per way they used to destroy a live network
or write something false (the defects numbered as the tests are: test_1_*, test_2_*, ...);
each test failed before its fix. Every test ends on EC2's ground truth. The same scenarios run
through the local stack in tests/e2e/test_convergence.py.

- test_1_unknown_keys.py: a key a batch read did not answer is unknown, never "no such request"
- test_2_already_done.py: "already done" answers are confirmed with retried reads
- test_3_fairness.py: the reconciler is fair: what it cannot remove never starves the rest
- test_4_intent_first.py: intent first: a lost note never leaves a record naming a deleted VPC
  as live
- test_4b_failed_records.py: a FAILED record stops naming what is gone, and keeps naming what
  failed to go
- test_5_versions.py: an old worker's late write never lands on a newer state (no ABA)
- test_6_deleted_on_answer.py: a deletion is recorded only on a delete's answer
- test_6_gateways_and_route_tables.py: the same, for internet gateways and route tables
- test_6_remains_never_forgotten.py: the same, when looks by tag lag: what a record says
  remains is deleted by id
- test_6_lag_is_not_proof.py: the same, against EC2's lag and lost answers
- test_left_as_it_is.py: a teardown never unroutes a subnet it does not delete
- conftest.py: the fixtures and helpers several of them share"""

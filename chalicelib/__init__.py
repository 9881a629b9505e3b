"""The Lambda functions' code below `app.py`: one package per role (`api`, `worker`,
`upkeep`, `console`), the AWS calls they share (`aws`, `store`), and at this level
the core, which every role uses.

The core: the typed shapes (`models`, `request_spec`, `resource_ids`, `findings`), the address
pools' arithmetic (`addresses`), the error vocabulary (`errors`), settings (`config`),
time (`clock`, `backoff`), JSON logs and EMF metrics (`logs`, `metrics`); above
everything, the object graph (`wiring`) and the per-invocation middleware
(`invocations`). The core may import only the core (`wiring` excepted, which builds
every role's services); it calls no AWS service itself.
"""

"""Alarms over the consortium's components: rules over a snapshot of their health, fired and resolved with a
hold-down, sent to a webhook and served by the explorer (docs/alarms.md).

- ``rules``: the snapshot types and the rules, pure: a snapshot in, the conditions that hold out;
- ``book``: the alarms in force, fired and resolved by diffing the conditions over time, with a hold-down;
- ``probe``: one round of requests to every component ``consortium up`` started makes a snapshot;
- ``webhook``: the versioned JSON document of a transition, delivered from a bounded queue with retries;
- ``store``: the alarms document and ``DIR/alarms/alarms.json``, the file it is also written to;
- ``evaluator``: the loop that ties them together, a thread of ``consortium up``;
- ``server``: the evaluator's last round on loopback, ``GET /v1/alarms`` to its token, what the explorer reads.
"""

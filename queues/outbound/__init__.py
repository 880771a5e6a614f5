"""Outbound: everything that tells councils and ICBs what changed (docs/outbound.md).

- `relay`: reads the outbox in commit order, publishes each event to `s117.events` with
  publisher confirms (networked mode), records it for every Subscription it matches, and
  marks it sent, in one batch transaction that only one relay runs at a time.
- `delivery`: delivers each Subscription's recorded events in order (rest-hook POST or the
  subscriber's own AMQP queue), with handshake, heartbeat, retries with backoff and a record
  of every attempt; one lane per subscriber, so a slow one delays no one else.
- `scheduler`: raises review-due and review-overdue once per entitlement and due date.
- `dispatcher`: the in-process bus of the embedded register: the same three inside
  `s117 serve`.
"""

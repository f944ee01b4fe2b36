-- projections/webhook_outbox.py and projections/webhook_delivery.py: the webhooks' outbox.
-- The outbox follower (tracking name `fundcenter.webhooks` in projection_tracking) keeps
-- webhook_endpoints from the log (never the signing secret: that stays in the
-- WebhookEndpoint aggregate) and queues one webhook_deliveries row per event and matching
-- endpoint, in the transaction that moves its tracking position. The deliverer records
-- each attempt in webhook_attempts and moves the delivery on (delivered, retried, failed).
CREATE TABLE webhook_endpoints (
    endpoint_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    event_types TEXT NOT NULL,
    business_id TEXT,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE INDEX webhook_endpoints_owner ON webhook_endpoints (business_id, created_at, endpoint_id);

CREATE TABLE webhook_deliveries (
    delivery_id TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    ordering_key TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    queued_s DOUBLE PRECISION NOT NULL,
    next_attempt_s DOUBLE PRECISION NOT NULL,
    delivered_at TEXT,
    last_error TEXT
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_s);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, ordering_key, status, position);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, position);

CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    attempted_at TEXT NOT NULL,
    status_code INTEGER,
    latency_ms INTEGER NOT NULL,
    error TEXT,
    PRIMARY KEY (delivery_id, attempt)
);

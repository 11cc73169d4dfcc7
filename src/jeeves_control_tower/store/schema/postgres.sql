-- The whole schema after every migration, written by `python -m tests.support.schema`.
-- Read it to see the tables; change the schema with a new migration, never here. Schema only:
-- rows a migration seeds (SQLite's webhook fan-out cursor) are not in it.

SET check_function_bodies = false;

CREATE FUNCTION jeeves_next_event_seq() RETURNS bigint
    LANGUAGE sql
    AS $$
    SELECT CASE WHEN pg_advisory_xact_lock('jeeves_interrupt_events'::regclass::oid::integer, 0)::text = ''
                THEN nextval('jeeves_interrupt_events_seq') END
$$;

CREATE TABLE jeeves_api_tokens (
    id text NOT NULL,
    token_hash text NOT NULL,
    user_id text NOT NULL,
    role text NOT NULL,
    created_at text NOT NULL,
    revoked_at text,
    groups text DEFAULT '[]'::text NOT NULL
);

CREATE TABLE jeeves_interrupt_events (
    seq bigint DEFAULT jeeves_next_event_seq() NOT NULL,
    interrupt_id text NOT NULL,
    event_type text NOT NULL,
    sequence integer NOT NULL,
    request_id text NOT NULL,
    user_id text NOT NULL,
    session_id text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamp with time zone NOT NULL,
    fanned_out_at timestamp with time zone
);

CREATE SEQUENCE jeeves_interrupt_events_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE jeeves_interrupt_events_seq OWNED BY jeeves_interrupt_events.seq;

CREATE TABLE jeeves_interrupt_responders (
    principal text NOT NULL,
    interrupt_id text NOT NULL
);

CREATE TABLE jeeves_interrupts (
    id text NOT NULL,
    kind text NOT NULL,
    request_id text NOT NULL,
    user_id text NOT NULL,
    session_id text NOT NULL,
    envelope_id text,
    question text,
    message text,
    data jsonb DEFAULT '{}'::jsonb NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    response jsonb,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone,
    resolved_at timestamp with time zone,
    trace_id text,
    span_id text,
    idempotency_key text,
    created_by text,
    policy jsonb,
    action_hash text,
    resolution text,
    consumed_at timestamp with time zone,
    interim_events integer DEFAULT 0 NOT NULL,
    next_reminder_at timestamp with time zone,
    reminders_sent integer DEFAULT 0 NOT NULL
);

CREATE TABLE jeeves_schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE jeeves_webhook_attempts (
    delivery_id text NOT NULL,
    attempt integer NOT NULL,
    at timestamp with time zone NOT NULL,
    status_code integer,
    error text,
    latency_ms double precision NOT NULL,
    response_excerpt text
);

CREATE TABLE jeeves_webhook_deliveries (
    id text NOT NULL,
    subscription_id text NOT NULL,
    event_seq bigint NOT NULL,
    event_id text NOT NULL,
    event_type text NOT NULL,
    status text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone NOT NULL,
    lease_until timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

CREATE TABLE jeeves_webhook_subscriptions (
    id text NOT NULL,
    url text NOT NULL,
    events jsonb NOT NULL,
    user_id text,
    session_id text,
    secret text NOT NULL,
    previous_secret text,
    previous_secret_until timestamp with time zone,
    enabled boolean NOT NULL,
    disabled_reason text,
    failing_since timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

ALTER TABLE ONLY jeeves_api_tokens
    ADD CONSTRAINT jeeves_api_tokens_pkey PRIMARY KEY (id);

ALTER TABLE ONLY jeeves_api_tokens
    ADD CONSTRAINT jeeves_api_tokens_token_hash_key UNIQUE (token_hash);

ALTER TABLE ONLY jeeves_interrupt_events
    ADD CONSTRAINT jeeves_interrupt_events_interrupt_id_sequence_key UNIQUE (interrupt_id, sequence);

ALTER TABLE ONLY jeeves_interrupt_events
    ADD CONSTRAINT jeeves_interrupt_events_pkey PRIMARY KEY (seq);

ALTER TABLE ONLY jeeves_interrupt_responders
    ADD CONSTRAINT jeeves_interrupt_responders_pkey PRIMARY KEY (principal, interrupt_id);

ALTER TABLE ONLY jeeves_interrupts
    ADD CONSTRAINT jeeves_interrupts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY jeeves_schema_migrations
    ADD CONSTRAINT jeeves_schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE ONLY jeeves_webhook_attempts
    ADD CONSTRAINT jeeves_webhook_attempts_pkey PRIMARY KEY (delivery_id, attempt);

ALTER TABLE ONLY jeeves_webhook_deliveries
    ADD CONSTRAINT jeeves_webhook_deliveries_pkey PRIMARY KEY (id);

ALTER TABLE ONLY jeeves_webhook_deliveries
    ADD CONSTRAINT jeeves_webhook_deliveries_subscription_id_event_seq_key UNIQUE (subscription_id, event_seq);

ALTER TABLE ONLY jeeves_webhook_subscriptions
    ADD CONSTRAINT jeeves_webhook_subscriptions_pkey PRIMARY KEY (id);

CREATE INDEX jeeves_interrupt_events_session ON jeeves_interrupt_events USING btree (session_id, seq);

CREATE INDEX jeeves_interrupt_events_unfanned ON jeeves_interrupt_events USING btree (seq) WHERE (fanned_out_at IS NULL);

CREATE INDEX jeeves_interrupt_events_user ON jeeves_interrupt_events USING btree (user_id, seq);

CREATE INDEX jeeves_interrupts_created_id ON jeeves_interrupts USING btree (created_at, id);

CREATE UNIQUE INDEX jeeves_interrupts_idempotency_key ON jeeves_interrupts USING btree (idempotency_key) WHERE (idempotency_key IS NOT NULL);

CREATE INDEX jeeves_interrupts_pending_created ON jeeves_interrupts USING btree (created_at, id) WHERE (status = 'pending'::text);

CREATE INDEX jeeves_interrupts_pending_expiry ON jeeves_interrupts USING btree (expires_at) WHERE ((status = 'pending'::text) AND (expires_at IS NOT NULL));

CREATE INDEX jeeves_interrupts_pending_reminder ON jeeves_interrupts USING btree (next_reminder_at) WHERE ((status = 'pending'::text) AND (next_reminder_at IS NOT NULL));

CREATE INDEX jeeves_interrupts_pending_request ON jeeves_interrupts USING btree (request_id, created_at) WHERE (status = 'pending'::text);

CREATE INDEX jeeves_interrupts_pending_session ON jeeves_interrupts USING btree (session_id, created_at) WHERE (status = 'pending'::text);

CREATE INDEX jeeves_interrupts_request_id ON jeeves_interrupts USING btree (request_id, created_at, id);

CREATE INDEX jeeves_interrupts_session_id ON jeeves_interrupts USING btree (session_id, created_at, id);

CREATE INDEX jeeves_interrupts_user_id ON jeeves_interrupts USING btree (user_id, created_at, id);

CREATE INDEX jeeves_webhook_deliveries_due ON jeeves_webhook_deliveries USING btree (next_attempt_at) WHERE (status = 'pending'::text);

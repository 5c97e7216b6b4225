-- Version 1: the tables of DESIGN.md "PostgreSQL". docs/store.md explains each
-- index by the query it serves. :"schema" is the configured schema, quoted.

-- One row per job: its latest state and everything known about it.
create table :"schema".jobs (
  id            uuid primary key,
  task          text,                    -- null only when the message named none
  queue         text,
  priority      smallint not null default 0 check (priority between 0 and 9),
  state         text not null check (state in ('PENDING', 'RECEIVED', 'STARTED', 'RETRY',
                                               'SUCCESS', 'FAILURE', 'REVOKED')),
  args          jsonb not null default '[]',
  kwargs        jsonb not null default '{}',
  result        jsonb,
  error_type    text,
  error_message text,
  error_stack   text,
  retries       int not null default 0 check (retries >= 0),
  max_retries   int,
  deliveries    int not null default 0 check (deliveries >= 0),
  worker        text,
  parent_id     uuid,
  root_id       uuid,
  group_id      text,
  eta           timestamptz,
  expires       timestamptz,
  enqueued_at   timestamptz,
  received_at   timestamptz,
  started_at    timestamptz,
  finished_at   timestamptz,
  updated_at    timestamptz not null default now(),
  unique_key    text unique
);

-- Result expiry: the oldest finished jobs first, in bounded batches.
create index jobs_finished_at_idx on :"schema".jobs (finished_at)
  where state in ('SUCCESS', 'FAILURE', 'REVOKED');
-- Dashboard and CLI counts per state and queue (index-only scans).
create index jobs_state_queue_idx on :"schema".jobs (state, queue);
-- A workflow: every job descended from one root.
create index jobs_root_id_idx on :"schema".jobs (root_id) where root_id is not null;

-- wait(id) listens on "<schema>_job_done"; this trigger notifies once per job
-- reaching a terminal state, delivered when (and only if) its transaction commits.
create function :"schema".notify_job_done() returns trigger
language plpgsql as $$
begin
  perform pg_notify(tg_table_schema || '_job_done', new.id::text);
  return null;
end
$$;

create trigger jobs_done_on_insert
  after insert on :"schema".jobs
  for each row when (new.state in ('SUCCESS', 'FAILURE', 'REVOKED'))
  execute function :"schema".notify_job_done();

create trigger jobs_done_on_update
  after update of state on :"schema".jobs
  for each row when (new.state in ('SUCCESS', 'FAILURE', 'REVOKED')
                     and old.state is distinct from new.state)
  execute function :"schema".notify_job_done();

-- Revoked job ids; workers load the live ones at start and skip them.
create table :"schema".revoked (
  id         uuid primary key,
  revoked_at timestamptz not null default now(),
  expires_at timestamptz,                  -- null: kept until purged by hand
  terminate  boolean not null default false,
  reason     text
);

-- Purging revokes that no longer matter.
create index revoked_expires_at_idx on :"schema".revoked (expires_at)
  where expires_at is not null;

-- Live workers, refreshed by their heartbeat.
create table :"schema".workers (
  hostname       text not null,
  pid            int not null,
  queues         text[] not null default '{}',
  concurrency    int not null check (concurrency > 0),
  started_at     timestamptz not null,
  last_heartbeat timestamptz not null,
  processed      bigint not null default 0,
  failed         bigint not null default 0,
  primary key (hostname, pid)
);

-- Periodic job definitions; a removed one keeps its row (and its fires).
create table :"schema".schedules (
  name       text primary key,
  definition jsonb not null,
  enabled    boolean not null default true,
  updated_at timestamptz not null default now(),
  removed_at timestamptz
);

-- One row per firing: the primary key makes a fire happen once even when two
-- schedulers race, and the job id is chosen before publishing.
create table :"schema".schedule_fires (
  schedule     text not null references :"schema".schedules (name) on delete cascade,
  fire_time    timestamptz not null,
  job_id       uuid not null unique,
  published_at timestamptz,                -- null: recorded, not yet confirmed by the broker
  manual       boolean not null default false,
  primary key (schedule, fire_time)
);

-- Failover: a new leader republishes fires recorded but never confirmed.
create index schedule_fires_unpublished_idx on :"schema".schedule_fires (fire_time)
  where published_at is null;

-- Queue monitor samples: depth and rates over time.
create table :"schema".queue_samples (
  queue        text not null,
  sampled_at   timestamptz not null,
  ready        bigint not null,
  unacked      bigint not null,
  consumers    int not null,
  publish_rate double precision,           -- null: the management API was not available
  deliver_rate double precision,
  ack_rate     double precision,
  primary key (queue, sampled_at)
);

-- Sample retention: delete the oldest across all queues.
create index queue_samples_sampled_at_idx on :"schema".queue_samples (sampled_at);

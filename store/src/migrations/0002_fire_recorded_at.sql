-- When each fire was recorded: a leader publishes again only fires left
-- unpublished for a while, not ones another process is still publishing.
alter table :"schema".schedule_fires
  add column recorded_at timestamptz not null default now();

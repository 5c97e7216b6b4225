-- Fewer index entries per job (docs/store.md "Indexes"). Almost every job is
-- written finished in one row, and each index entry is paid per job:
-- inserting 100,000 finished rows took 490-525 ms with the indexes of
-- version 3 and 273-288 ms with these.

-- Counts per state and queue are asked of the jobs still in flight (what is
-- pending, running, waiting to retry). Only live jobs are indexed; counting
-- finished jobs by state or queue reads the table.
drop index :"schema".jobs_state_queue_idx;
create index jobs_live_state_queue_idx on :"schema".jobs (state, queue)
  where state in ('PENDING', 'RECEIVED', 'STARTED', 'RETRY');

-- A job that starts a workflow is its own root (Celery sends root_id = id),
-- so every job had an entry. Only descendants are indexed now; a workflow's
-- jobs are `where id = $1 or (root_id = $1 and root_id <> id)`.
drop index :"schema".jobs_root_id_idx;
create index jobs_root_id_idx on :"schema".jobs (root_id) where root_id <> id;

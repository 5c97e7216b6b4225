-- Cheaper job rows (docs/store.md "Writing job state"): every job is one row
-- written at least once, so what each row costs the database is paid per job.

-- unique_key is null for almost every job. A partial index keeps the keys
-- that are set unique without an index entry for each row that has none.
alter table :"schema".jobs drop constraint jobs_unique_key_key;
create unique index jobs_unique_key_key on :"schema".jobs (unique_key)
  where unique_key is not null;

-- The job-done NOTIFY, once per statement over the rows it wrote, instead of
-- a PL/pgSQL call per row. Same channel, same payload (the job id), and still
-- delivered when (and only if) the transaction commits.
drop trigger jobs_done_on_insert on :"schema".jobs;
drop trigger jobs_done_on_update on :"schema".jobs;
drop function :"schema".notify_job_done();

create function :"schema".notify_jobs_inserted() returns trigger
language plpgsql as $$
begin
  perform pg_notify(tg_table_schema || '_job_done', n.id::text)
    from inserted n
   where n.state in ('SUCCESS', 'FAILURE', 'REVOKED');
  return null;
end
$$;

create trigger jobs_done_on_insert
  after insert on :"schema".jobs
  referencing new table as inserted
  for each statement execute function :"schema".notify_jobs_inserted();

create function :"schema".notify_jobs_updated() returns trigger
language plpgsql as $$
begin
  perform pg_notify(tg_table_schema || '_job_done', n.id::text)
    from updated_new n join updated_old o using (id)
   where n.state in ('SUCCESS', 'FAILURE', 'REVOKED') and o.state is distinct from n.state;
  return null;
end
$$;

create trigger jobs_done_on_update
  after update on :"schema".jobs
  referencing old table as updated_old new table as updated_new
  for each statement execute function :"schema".notify_jobs_updated();

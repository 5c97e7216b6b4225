// Helpers over ScratchSchema that write jobs rows directly with SQL, the way
// any writer would, so the tests see the real trigger and constraints.
#pragma once

#include <pqxx/pqxx>

#include <doctest/doctest.h>

#include <random>
#include <string>

#include "celeriac/core/job_id.hpp"
#include "celeriac/core/time.hpp"
#include "scratch_schema.hpp"

namespace celeriac::test {

inline JobId random_job_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  JobId::Bytes bytes{};
  for (auto& byte : bytes)
    byte = static_cast<std::uint8_t>(rng());
  return JobId::v4(bytes);
}

// A ScratchSchema (fresh, migrated, dropped at the end) with helpers for jobs rows.
struct MigratedSchema : ScratchSchema {
  using ScratchSchema::ScratchSchema;

  void exec(const std::string& sql) {
    pqxx::work tx{conn};
    tx.exec0(sql);
    tx.commit();
  }

  long count(const std::string& sql) {
    pqxx::work tx{conn};
    return tx.exec1(sql)[0].as<long>();
  }

  // Inserts job ID in STATE; FINISHED_AT (ISO text or "null") is the finish time.
  void insert_job(JobId id, const std::string& state, const std::string& finished_at = "null") {
    pqxx::work tx{conn};
    tx.exec_params("insert into " + table("jobs") +
                       " (id, task, queue, state, enqueued_at, finished_at)"
                       " values ($1::uuid, 'demo.add', 'default', $2, now(), " +
                       (finished_at == "null" ? std::string("null")
                                              : tx.quote(finished_at) + "::timestamptz") +
                       ")",
                   id.str(), state);
    tx.commit();
  }

  // Moves job ID to STATE in its own transaction, as a worker's commit would.
  void set_state(JobId id, const std::string& state) {
    pqxx::work tx{conn};
    tx.exec_params("update " + table("jobs") +
                       " set state = $2, finished_at = case when $2 in ('SUCCESS', 'FAILURE',"
                       " 'REVOKED') then now() end, result = case when $2 = 'SUCCESS' then"
                       " '{\"ok\": true}'::jsonb end, updated_at = now() where id = $1::uuid",
                   id.str(), state);
    tx.commit();
  }
};

} // namespace celeriac::test

// Golden tests against messages a real Celery 5.2 client produced (captured by
// fixtures/celery/capture.py from Debian's python3-celery): each decodes to the
// expected job, and our encoding of that job is what Celery itself sends.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "celeriac/core/celery_protocol.hpp"

using namespace celeriac;
using namespace std::chrono_literals;
using ordered_json = nlohmann::ordered_json;

namespace {

const std::filesystem::path kFixtures =
    std::filesystem::path(__FILE__).parent_path() / "fixtures" / "celery";

HeaderValue header(const ordered_json& j) {
  if (j.is_null()) return {};
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number_integer()) return j.get<std::int64_t>();
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) return j.get<std::string>();
  if (j.is_array()) {
    HeaderArray a;
    for (const auto& v : j)
      a.push_back(header(v));
    return a;
  }
  HeaderTable t;
  for (const auto& [k, v] : j.items())
    t.set(k, header(v));
  return t;
}

struct Fixture {
  ordered_json raw;
  Message message;
};

Fixture load(const std::string& name) {
  std::ifstream in(kFixtures / (name + ".json"));
  REQUIRE(in.good());
  Fixture f{ordered_json::parse(in), {}};
  const auto& p = f.raw["properties"];
  f.message.properties.content_type = p["content_type"];
  f.message.properties.content_encoding = p["content_encoding"];
  f.message.properties.correlation_id = p["correlation_id"];
  f.message.properties.priority = p["priority"];
  f.message.properties.delivery_mode = p["delivery_mode"];
  if (p.contains("reply_to")) f.message.properties.reply_to = p["reply_to"];
  if (p.contains("expiration")) f.message.properties.expiration = p["expiration"];
  for (const auto& [k, v] : f.raw["headers"].items())
    f.message.headers.set(k, header(v));
  f.message.body = f.raw["body"];
  return f;
}

Timestamp utc(const char* text) {
  return *parse_iso8601(text);
}

// Decodes the fixture, checks our encoding matches Celery's, and returns the job.
Job decode_and_reencode(const std::string& name) {
  Fixture f = load(name);
  Job job = decode_job(f.message, "celery.queue");
  CHECK(job.id.str() == f.raw["headers"]["id"].get<std::string>());
  CHECK(job.origin == f.raw["headers"]["origin"].get<std::string>());

  Message ours = encode_job(job);
  // Celery's headers, same order, same values (eta/expires compared as
  // instants), except that we leave out what Celery sends void: a void
  // header, and a timelimit of [null, null].
  std::vector<HeaderTable::Entry> celery;
  for (const auto& entry : f.message.headers) {
    const HeaderValue none_none = HeaderArray{HeaderValue(), HeaderValue()};
    if (entry.second.is_void() || (entry.first == "timelimit" && entry.second == none_none))
      continue;
    celery.push_back(entry);
  }
  REQUIRE(ours.headers.size() == celery.size());
  for (std::size_t i = 0; i < ours.headers.size(); ++i) {
    const auto& [key, value] = ours.headers.entries()[i];
    const auto& [celery_key, celery_value] = celery[i];
    INFO(name, ": header ", key);
    CHECK(key == celery_key);
    if ((key == "eta" || key == "expires") && !value.is_void()) {
      CHECK(parse_iso8601(*value.get_if<std::string>()) ==
            parse_iso8601(*celery_value.get_if<std::string>()));
    } else {
      CHECK(value == celery_value);
    }
  }
  CHECK(nlohmann::json::parse(ours.body) == nlohmann::json::parse(f.message.body));
  CHECK(ours.properties.correlation_id == f.message.properties.correlation_id);
  CHECK(ours.properties.priority == f.message.properties.priority);
  CHECK(ours.properties.reply_to == f.message.properties.reply_to);
  CHECK(ours.properties.content_type == f.message.properties.content_type);
  CHECK(ours.properties.content_encoding == f.message.properties.content_encoding);
  CHECK(ours.properties.delivery_mode == 2);
  // And our encoding decodes back to the same job.
  CHECK(decode_job(ours, "celery.queue") == job);
  return job;
}

} // namespace

TEST_CASE("golden: basic send_task('demo.add', args=[2, 3])") {
  Job job = decode_and_reencode("basic_add");
  CHECK(job.task == "demo.add");
  CHECK(job.args == nlohmann::json::array({2, 3}));
  CHECK(job.kwargs == nlohmann::json::object());
  CHECK(job.queue == "celery.queue");
  CHECK(job.priority == 0);
  CHECK(job.retries == 0);
  CHECK(job.root_id == job.id);
  CHECK_FALSE(job.parent_id);
  CHECK_FALSE(job.eta);
  CHECK_FALSE(job.hard_time_limit);
  CHECK_FALSE(job.ignore_result);
  CHECK(job.embed["callbacks"].is_null());
}

TEST_CASE("golden: kwargs, priority, eta and expires") {
  Job job = decode_and_reencode("kwargs_priority_eta_expires");
  CHECK(job.task == "reports.generate");
  CHECK(job.kwargs == nlohmann::json{{"sprint", 42}, {"format", "pdf"}});
  CHECK(job.priority == 8);
  CHECK(job.eta == utc("2030-05-17T09:30:15.25Z"));
  CHECK(job.expires == utc("2030-05-17T10:30:15.25Z"));
  CHECK(load("kwargs_priority_eta_expires").message.properties.expiration.has_value());
}

TEST_CASE("golden: countdown, time limits [hard, soft], retries") {
  Job job = decode_and_reencode("countdown_time_limits_retries");
  CHECK(job.task == "jira.sync");
  CHECK(job.hard_time_limit == Duration(300s));
  CHECK(job.soft_time_limit == Duration(240s));
  CHECK(job.retries == 2);
  CHECK(job.eta.has_value());
  job = decode_and_reencode("soft_limit_only");
  CHECK_FALSE(job.hard_time_limit);
  CHECK(job.soft_time_limit == Duration(60s));
}

TEST_CASE("golden: workflow ids, group, shadow") {
  Job job = decode_and_reencode("workflow_ids_group_shadow");
  CHECK(job.root_id->str() == "0b9f5e8e-6f3a-4c1d-8e2b-5a7d9c3f1e20");
  CHECK(job.parent_id->str() == "4e2a1c7b-9d8f-4a3e-b5c6-1f2e3d4c5b6a");
  CHECK(job.group == "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d");
  CHECK(job.group_index == 3);
  CHECK(job.shadow == "wq-1001");
}

TEST_CASE("golden: link, link_error and ignore_result") {
  Job job = decode_and_reencode("links_and_ignore_result");
  CHECK(job.ignore_result);
  CHECK(job.embed["callbacks"][0]["task"] == "demo.add");
  CHECK(job.embed["callbacks"][0]["args"] == nlohmann::json::array({10}));
  CHECK(job.embed["errbacks"][0]["kwargs"]["severity"] == "high");
}

TEST_CASE("golden: unicode and datetime arguments, naive eta") {
  Job job = decode_and_reencode("unicode_and_datetime_args");
  CHECK(job.args[0] == "Ünïcødé ✓ 日本");
  CHECK(job.args[1]["when"] == "2030-05-17T09:30:15.250000Z");
  CHECK(job.kwargs["emoji"] == "🚀");
  job = decode_and_reencode("naive_eta");
  CHECK(job.eta == utc("2030-01-02T03:04:05Z"));
}

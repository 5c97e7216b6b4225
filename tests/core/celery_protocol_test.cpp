#include <doctest/doctest.h>

#include "celeriac/core/celery_protocol.hpp"
#include "celeriac/core/error.hpp"

using namespace celeriac;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const JobId kId = *JobId::parse("8f2939de-b4c7-4c6c-9e95-26de686d15d9");

Job full_job() {
  Job job;
  job.id = kId;
  job.task = "reports.generate";
  job.args = json::array({1, "two", json::object({{"three", 3.5}})});
  job.kwargs = json{{"sprint", 42}, {"tags", json::array({"a", "b"})}};
  job.queue = "default";
  job.priority = 7;
  job.eta = *parse_iso8601("2030-01-01T00:00:00.5Z");
  job.expires = *parse_iso8601("2030-01-01T01:00:00Z");
  job.retries = 3;
  job.soft_time_limit = 240s;
  job.hard_time_limit = Duration(300500ms);
  job.parent_id = JobId::parse("4e2a1c7b-9d8f-4a3e-b5c6-1f2e3d4c5b6a");
  job.root_id = JobId::parse("0b9f5e8e-6f3a-4c1d-8e2b-5a7d9c3f1e20");
  job.group = "g-1";
  job.group_index = 2;
  job.ignore_result = true;
  job.shadow = "report #42";
  job.origin = "123@host";
  job.reply_to = "replies";
  job.argsrepr = "(1, 'two', {'three': 3.5})";
  job.kwargsrepr = "{'sprint': 42, 'tags': ['a', 'b']}";
  job.extra_headers = HeaderTable{{"x-tenant", "acme"}, {"x-trace", HeaderArray{1, 2.5, nullptr}}};
  return job;
}

// A valid message for demo.add; tests then break one thing each.
Message valid_message() {
  Job job;
  job.id = kId;
  job.task = "demo.add";
  job.args = json::array({2, 3});
  return encode_job(job);
}

std::string decode_error(const Message& m, const CodecLimits& limits = {}) {
  try {
    (void)decode_job(m, "q", limits);
  } catch (const DecodeError& e) {
    return e.what();
  }
  return "(decoded)";
}

} // namespace

TEST_CASE("every field survives encode -> decode") {
  const Job job = full_job();
  const Message m = encode_job(job);
  CHECK(decode_job(m, "default") == job);
  CHECK(m.properties.correlation_id == kId.str());
  CHECK(m.properties.priority == 7);
  CHECK(m.properties.delivery_mode == 2);
  CHECK(m.properties.content_type == "application/json");
  SUBCASE("headers in Celery's order, timelimit = [hard, soft]") {
    std::vector<std::string> keys;
    for (const auto& [k, v] : m.headers)
      keys.push_back(k);
    CHECK(keys == std::vector<std::string>{"lang", "task", "id", "shadow", "eta", "expires",
                                           "group", "group_index", "retries", "timelimit",
                                           "root_id", "parent_id", "argsrepr", "kwargsrepr",
                                           "origin", "ignore_result", "x-tenant", "x-trace"});
    CHECK(*m.headers.find("timelimit") == HeaderValue(HeaderArray{300.5, std::int64_t{240}}));
  }
  SUBCASE("the body is [args, kwargs, embed]") {
    const json body = json::parse(m.body);
    CHECK(body.size() == 3);
    CHECK(body[0] == job.args);
    CHECK(body[2].contains("chord"));
  }
}

TEST_CASE("argsrepr and kwargsrepr default to the compact JSON, bounded") {
  Job job = full_job();
  job.argsrepr.reset();
  job.kwargsrepr.reset();
  job.args = json::array({std::string(5000, 'x')});
  const Message m = encode_job(job);
  const auto& argsrepr = *m.headers.find("argsrepr")->get_if<std::string>();
  CHECK(argsrepr.size() == 1024);
  CHECK(argsrepr.ends_with("..."));
  CHECK(*m.headers.find("kwargsrepr")->get_if<std::string>() ==
        R"({"sprint":42,"tags":["a","b"]})");
}

TEST_CASE("encode sets the AMQP expiration when given the time") {
  Job job = full_job();
  const Timestamp now = *job.expires - 90s;
  CHECK(encode_job(job, now).properties.expiration == "90000");
  CHECK(encode_job(job, *job.expires + 1s).properties.expiration == "1");
  CHECK_FALSE(encode_job(job).properties.expiration);
}

TEST_CASE("optional headers with no value are left out, and the job comes back the same") {
  Job job;
  job.id = kId;
  job.task = "demo.add";
  job.queue = "default";
  job.args = json::array({2, 3});
  job.argsrepr = "[2,3]"; // what decoding the default reprs gives back
  job.kwargsrepr = "{}";
  const Message m = encode_job(job);
  std::vector<std::string> keys;
  for (const auto& [k, v] : m.headers) {
    keys.push_back(k);
    CHECK_FALSE(v.is_void());
  }
  CHECK(keys == std::vector<std::string>{"lang", "task", "id", "retries", "argsrepr", "kwargsrepr",
                                         "ignore_result"});
  CHECK(decode_job(m, "default") == job);
  SUBCASE("a single time limit sends timelimit, the other null") {
    job.soft_time_limit = 30s;
    const Message limited = encode_job(job);
    CHECK(*limited.headers.find("timelimit") ==
          HeaderValue(HeaderArray{nullptr, std::int64_t{30}}));
    CHECK(decode_job(limited, "default") == job);
  }
}

TEST_CASE("void and missing optional headers decode to defaults") {
  Message m;
  m.headers = HeaderTable{{"task", "demo.add"},
                          {"id", kId.str()},
                          {"eta", nullptr},
                          {"retries", nullptr},
                          {"timelimit", HeaderArray{nullptr, nullptr}}};
  m.body = R"([[], {}, null])";
  const Job job = decode_job(m, "q");
  CHECK(job.retries == 0);
  CHECK_FALSE(job.eta);
  CHECK_FALSE(job.hard_time_limit);
  CHECK(job.embed.is_null()); // the usual embed: four nulls when encoded
  CHECK(encode_job(job).body.ends_with(usual_embed().dump() + "]"));
}

TEST_CASE("the usual embed decodes to null and encodes as its four nulls; any other is kept") {
  Message m;
  m.properties.content_type = "application/json";
  m.headers = HeaderTable{{"task", "demo.add"}, {"id", "00000000-0000-4000-8000-000000000001"}};
  m.body = R"([[], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}])";
  const Job usual = decode_job(m, "q");
  CHECK(usual.embed.is_null());
  CHECK(encode_job(usual).body ==
        R"([[], {}, {"callbacks":null,"chain":null,"chord":null,"errbacks":null}])");
  m.body = R"([[], {}, {"chain": [{"task": "demo.add"}], "extra": 1}])";
  const Job chained = decode_job(m, "q");
  CHECK(chained.embed == nlohmann::json{{"callbacks", nullptr},
                                        {"errbacks", nullptr},
                                        {"chain", {{{"task", "demo.add"}}}},
                                        {"chord", nullptr},
                                        {"extra", 1}});
  CHECK(decode_job(encode_job(chained), "q").embed == chained.embed);
  m.body = R"([[], {}, {"unknown": null}])"; // not one of the four: kept as it came
  CHECK(decode_job(m, "q").embed.contains("unknown"));
}

TEST_CASE("decode errors name what was wrong") {
  Message m = valid_message();
  CHECK(decode_error(m) == "(decoded)");

  m.body = "not json";
  CHECK(decode_error(m) == "body: not valid JSON (or not UTF-8)");
  m.body = "[[], {}]";
  CHECK(decode_error(m) == "body: must be a 3-element array [args, kwargs, embed]");
  m.body = R"({"args": []})";
  CHECK(decode_error(m) == "body: must be a 3-element array [args, kwargs, embed]");
  m.body = R"([{}, {}, {}])";
  CHECK(decode_error(m) == "body.args: must be a JSON array");
  m.body = R"([[], [], {}])";
  CHECK(decode_error(m) == "body.kwargs: must be a JSON object");
  m.body = "[[\"\xff\xfe\"], {}, {}]";
  CHECK(decode_error(m) == "body: not valid JSON (or not UTF-8)");
  m.body = std::string(2000, '[') + std::string(2000, ']');
  CHECK(decode_error(m) == "body: JSON nested deeper than 64");
  m.body = std::string(1024 * 1024 + 1, ' ');
  CHECK(decode_error(m) == "body: 1048577 bytes exceeds the limit of 1048576 bytes");
  CHECK(decode_error(m, CodecLimits{.max_body_bytes = 2 * 1024 * 1024}) ==
        "body: not valid JSON (or not UTF-8)");

  m = valid_message();
  m.headers.erase("task");
  CHECK(decode_error(m) == "headers.task: missing (not a Celery protocol v2 message)");
  m = valid_message();
  m.headers.erase("id");
  CHECK(decode_error(m) == "headers.id: missing");
  m.headers.set("id", "task-1");
  CHECK(decode_error(m) == "headers.id: bad UUID 'task-1'");
  m = valid_message();
  m.headers.set("eta", "tomorrow");
  CHECK(decode_error(m) == "headers.eta: bad timestamp 'tomorrow'");
  m = valid_message();
  m.headers.set("retries", "3");
  CHECK(decode_error(m) == "headers.retries: must be an integer");
  m = valid_message();
  m.headers.set("timelimit", HeaderArray{300});
  CHECK(decode_error(m) == "headers.timelimit: must be a 2-element array [hard, soft]");
  m.headers.set("timelimit", HeaderArray{-1, nullptr});
  CHECK(decode_error(m) == "headers.timelimit[hard]: -1 is not a usable number of seconds");
  m = valid_message();
  m.headers.set("root_id", "nope");
  CHECK(decode_error(m) == "headers.root_id: bad UUID 'nope'");

  m = valid_message();
  m.headers.set("task", "demo\xff.add");
  CHECK(decode_error(m) == "headers.task: is not valid UTF-8");
  m.headers.set("task", "demo add");
  CHECK(decode_error(m) == "headers.task: 'demo add' contains a space or control character");
  m = valid_message();
  m.headers.set("x-note", HeaderArray{"ok", "\xc0\xaf"}); // an overlong '/'
  CHECK(decode_error(m) == "headers.x-note: is not valid UTF-8");
  m = valid_message();
  m.headers.set("origin", "\xed\xa0\x80@host"); // a UTF-16 surrogate
  CHECK(decode_error(m) == "headers.origin: is not valid UTF-8");
  m = valid_message();
  m.headers.set("eta", "0000-01-01T00:30:00+01:00");
  CHECK(decode_error(m) == "headers.eta: bad timestamp '0000-01-01T00:30:00+01:00'");

  m = valid_message();
  m.properties.content_type = "application/x-python-serialize";
  CHECK(decode_error(m) ==
        "content_type: 'application/x-python-serialize' is not accepted: celeriac reads "
        "application/json only");
  m = valid_message();
  m.properties.content_encoding = "binary";
  CHECK(decode_error(m) == "content_encoding: 'binary' is not utf-8");
}

TEST_CASE("priorities beyond 0..9 are clamped, as RabbitMQ does") {
  Message m = valid_message();
  m.properties.priority = 200;
  CHECK(decode_job(m, "q").priority == 9);
}

TEST_CASE("kombu JSON envelopes are unwrapped") {
  json value = json::parse(R"([
    {"__type__": "datetime", "__value__": "2030-05-17T09:30:15.250000+00:00"},
    {"__type__": "uuid", "__value__": "8F2939DEB4C74C6C9E9526DE686D15D9"},
    {"__type__": "uuid", "__value__": {"hex": "8f2939deb4c74c6c9e9526de686d15d9"}},
    {"__type__": "bytes", "__value__": "raw text"},
    {"__type__": "base64", "__value__": "aGVsbG8="},
    {"__type__": "base64", "__value__": "//79"},
    {"__type__": "decimal", "__value__": "12.50"},
    {"__type__": "timedelta", "__value__": 90.5},
    {"__type__": "mystery", "__value__": 1},
    {"nested": [{"__type__": "date", "__value__": "2030-05-17"}]}
  ])");
  unwrap_kombu_envelopes(value);
  CHECK(value[0] == "2030-05-17T09:30:15.250000+00:00");
  CHECK(value[1] == "8f2939de-b4c7-4c6c-9e95-26de686d15d9");
  CHECK(value[2] == "8f2939de-b4c7-4c6c-9e95-26de686d15d9");
  CHECK(value[3] == "raw text");
  CHECK(value[4] == "hello");
  CHECK(value[5]["__type__"] == "base64"); // not UTF-8: kept, nothing lost
  CHECK(value[6] == "12.50");
  CHECK(value[7] == 90.5);
  CHECK(value[8]["__type__"] == "mystery");
  CHECK(value[9]["nested"][0] == "2030-05-17");

  Message m = valid_message();
  m.body = R"([[{"__type__": "datetime", "__value__": "2030-01-01T00:00:00"}], {}, {}])";
  CHECK(decode_job(m, "q").args[0] == "2030-01-01T00:00:00");
}

TEST_CASE("unknown headers are kept in order and forwarded") {
  Message m = valid_message();
  m.headers.set("x-b", 2);
  m.headers.set("x-a", HeaderTable{{"deep", true}});
  const Job job = decode_job(m, "q");
  REQUIRE(job.extra_headers.size() == 2);
  CHECK(job.extra_headers.entries()[0].first == "x-b");
  CHECK(encode_job(job).headers.find("x-a")->get_if<HeaderTable>()->find("deep") != nullptr);
}

TEST_CASE("RabbitMQ's dead-letter trace headers are not kept with the job") {
  // Republished with them, a retry through the delay levels would look like a
  // dead-letter cycle to RabbitMQ, which drops such messages.
  Message m = valid_message();
  m.headers.set("x-death", HeaderArray{HeaderTable{{"queue", "celeriac.delay.00"}}});
  m.headers.set("x-first-death-queue", "celeriac.delay.00");
  m.headers.set("x-last-death-reason", "expired");
  m.headers.set("x-app", "kept");
  const Job job = decode_job(m, "q");
  REQUIRE(job.extra_headers.size() == 1);
  CHECK(job.extra_headers.entries()[0].first == "x-app");
  CHECK(encode_job(job).headers.find("x-death") == nullptr);
}

TEST_CASE("the send time travels in x-celeriac-sent-at, and a malformed one is dropped") {
  Job job = decode_job(valid_message(), "q");
  CHECK_FALSE(job.sent_at); // a Celery client's message has none
  job.sent_at = *parse_iso8601("2026-11-24T08:00:00.123456Z");
  Message m = encode_job(job);
  CHECK(*m.headers.find("x-celeriac-sent-at") ==
        HeaderValue(std::string("2026-11-24T08:00:00.123456+00:00")));
  CHECK(decode_job(m, "q").sent_at == job.sent_at);
  CHECK(decode_job(m, "q").extra_headers.find("x-celeriac-sent-at") == nullptr);

  m.headers.set("x-celeriac-sent-at", "yesterday");
  const Job lenient = decode_job(m, "q"); // it only feeds a metric: the job still runs
  CHECK_FALSE(lenient.sent_at);
  CHECK(lenient.extra_headers.find("x-celeriac-sent-at") == nullptr);
}

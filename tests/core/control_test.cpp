#include <doctest/doctest.h>

#include "celeriac/core/control.hpp"
#include "celeriac/core/error.hpp"

using namespace celeriac;

namespace {

std::string decode_error(std::string_view body) {
  try {
    (void)decode_control(body);
  } catch (const DecodeError& e) {
    return e.what();
  }
  return "(decoded)";
}

} // namespace

TEST_CASE("a control request survives encode -> decode") {
  ControlRequest request;
  request.method = "rate_limit";
  request.arguments = {{"task_name", "jira.sync"}, {"rate_limit", "10/s"}};
  request.destination = std::vector<std::string>{"a:1", "b:2"};
  request.reply_to = ControlReplyTo{"", "amq.gen-xyz"};
  request.ticket = "t-1";
  const ControlRequest back = decode_control(encode_control(request));
  CHECK(back.method == "rate_limit");
  CHECK(back.arguments == request.arguments);
  CHECK(back.destination == request.destination);
  REQUIRE(back.reply_to);
  CHECK(back.reply_to->routing_key == "amq.gen-xyz");
  CHECK(back.ticket == "t-1");
  CHECK(addressed_to(back, "a:1"));
  CHECK_FALSE(addressed_to(back, "c:3"));
}

TEST_CASE("the client's revoke broadcast decodes: no destination means every worker") {
  const auto request = decode_control(
      R"({"method":"revoke","arguments":{"task_id":"8f2939de-b4c7-4c6c-9e95-26de686d15d9","terminate":true}})");
  CHECK(request.method == "revoke");
  CHECK(request.arguments["terminate"] == true);
  CHECK_FALSE(request.reply_to);
  CHECK(addressed_to(request, "any:1"));
}

TEST_CASE("bad control messages name what was wrong") {
  CHECK(decode_error("{").find("not valid JSON") != std::string::npos);
  CHECK(decode_error("[1]").find("not a JSON object") != std::string::npos);
  CHECK(decode_error("{}").find("method") != std::string::npos);
  CHECK(decode_error(R"({"method":3})").find("method") != std::string::npos);
  CHECK(decode_error(R"({"method":"ping","arguments":[1]})").find("arguments") !=
        std::string::npos);
  CHECK(decode_error(R"({"method":"ping","destination":"w"})").find("destination") !=
        std::string::npos);
  CHECK(decode_error(R"({"method":"ping","destination":[1]})").find("destination") !=
        std::string::npos);
  CHECK(decode_error(R"({"method":"ping","reply_to":{"exchange":""}})").find("routing_key") !=
        std::string::npos);
}

TEST_CASE("a reply survives encode -> decode") {
  const ControlReply reply{"w:1", "t-9", {{"ok", "pong"}}};
  const ControlReply back = decode_control_reply(encode_control_reply(reply));
  CHECK(back.worker == "w:1");
  CHECK(back.ticket == "t-9");
  CHECK(back.reply == reply.reply);
  CHECK_THROWS_AS(decode_control_reply(R"({"ticket":"x"})"), DecodeError);
}

// Control commands: what travels on the celeriac.control fanout exchange to
// every worker (DESIGN.md "RabbitMQ topology"), in the shape of Celery's
// pidbox messages:
//
//   {"method": "rate_limit",
//    "arguments": {"task_name": "jira.sync", "rate_limit": "10/s"},
//    "destination": ["host:4242"],                    // absent or null: every worker
//    "reply_to": {"exchange": "", "routing_key": "amq.gen-..."},  // absent: no reply
//    "ticket": "..."}                                 // echoed in each reply
//
// and each worker's answer, published to reply_to:
//
//   {"worker": "host:4242", "ticket": "...", "reply": {"ok": "pong"}}
//
// Methods: ping; shutdown; revoke {task_id (one id or a list), terminate};
// rate_limit {task_name, rate_limit ("10/s", "100/m", "1/h"; "0" removes the limit)}.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace celeriac {

struct ControlReplyTo {
  std::string exchange; // "" : the default exchange, routing_key naming a queue
  std::string routing_key;
};

struct ControlRequest {
  std::string method;
  nlohmann::json arguments = nlohmann::json::object();
  std::optional<std::vector<std::string>> destination; // nullopt: every worker
  std::optional<ControlReplyTo> reply_to;
  std::string ticket;
};

struct ControlReply {
  std::string worker;
  std::string ticket;
  nlohmann::json reply; // {"ok": ...} or {"error": "..."}
};

std::string encode_control(const ControlRequest& request);
// Throws DecodeError naming the field that was wrong.
ControlRequest decode_control(std::string_view body);

// Whether REQUEST is meant for the worker named WORKER.
bool addressed_to(const ControlRequest& request, std::string_view worker);

std::string encode_control_reply(const ControlReply& reply);
ControlReply decode_control_reply(std::string_view body); // throws DecodeError

} // namespace celeriac

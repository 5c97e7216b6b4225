#include "celeriac/core/control.hpp"

#include <algorithm>

#include "celeriac/core/error.hpp"

namespace celeriac {
namespace {

using nlohmann::json;

json parse_object(std::string_view body, const char* what) {
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded()) throw DecodeError("body", std::string(what) + " is not valid JSON");
  if (!parsed.is_object()) throw DecodeError("body", std::string(what) + " is not a JSON object");
  return parsed;
}

std::string text_field(const json& object, const char* key, bool required) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    if (required) throw DecodeError(key, "missing");
    return {};
  }
  if (!it->is_string()) throw DecodeError(key, "must be a string");
  return it->get<std::string>();
}

std::optional<std::vector<std::string>> destination_field(const json& object) {
  const auto it = object.find("destination");
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_array()) throw DecodeError("destination", "must be a list of worker names or null");
  std::vector<std::string> names;
  for (const auto& name : *it) {
    if (!name.is_string()) throw DecodeError("destination", "must hold worker names (strings)");
    names.push_back(name.get<std::string>());
  }
  return names;
}

std::optional<ControlReplyTo> reply_to_field(const json& object) {
  const auto it = object.find("reply_to");
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_object()) throw DecodeError("reply_to", "must be {exchange, routing_key}");
  ControlReplyTo to;
  to.exchange = text_field(*it, "exchange", false);
  to.routing_key = text_field(*it, "routing_key", true);
  return to;
}

} // namespace

std::string encode_control(const ControlRequest& request) {
  json body{{"method", request.method}, {"arguments", request.arguments}};
  body["destination"] = request.destination ? json(*request.destination) : json(nullptr);
  if (request.reply_to) {
    body["reply_to"] = {{"exchange", request.reply_to->exchange},
                        {"routing_key", request.reply_to->routing_key}};
  }
  body["ticket"] = request.ticket;
  return body.dump();
}

ControlRequest decode_control(std::string_view body) {
  const json object = parse_object(body, "a control message");
  ControlRequest request;
  request.method = text_field(object, "method", true);
  if (const auto it = object.find("arguments"); it != object.end() && !it->is_null()) {
    if (!it->is_object()) throw DecodeError("arguments", "must be a JSON object");
    request.arguments = *it;
  }
  request.destination = destination_field(object);
  request.reply_to = reply_to_field(object);
  request.ticket = text_field(object, "ticket", false);
  return request;
}

bool addressed_to(const ControlRequest& request, std::string_view worker) {
  if (!request.destination) return true;
  return std::find(request.destination->begin(), request.destination->end(), worker) !=
         request.destination->end();
}

std::string encode_control_reply(const ControlReply& reply) {
  return json{{"worker", reply.worker}, {"ticket", reply.ticket}, {"reply", reply.reply}}.dump();
}

ControlReply decode_control_reply(std::string_view body) {
  const json object = parse_object(body, "a control reply");
  ControlReply reply;
  reply.worker = text_field(object, "worker", true);
  reply.ticket = text_field(object, "ticket", false);
  if (const auto it = object.find("reply"); it != object.end()) reply.reply = *it;
  return reply;
}

} // namespace celeriac

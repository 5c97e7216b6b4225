#include "celeriac/core/header_value.hpp"

#include <algorithm>

namespace celeriac {

HeaderTable::HeaderTable(std::initializer_list<Entry> entries) {
  for (const auto& [key, value] : entries)
    set(key, value);
}

const HeaderValue* HeaderTable::find(std::string_view key) const {
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const Entry& e) { return e.first == key; });
  return it == entries_.end() ? nullptr : &it->second;
}

void HeaderTable::set(std::string key, HeaderValue value) {
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const Entry& e) { return e.first == key; });
  if (it != entries_.end()) {
    it->second = std::move(value);
  } else {
    entries_.emplace_back(std::move(key), std::move(value));
  }
}

bool HeaderTable::erase(std::string_view key) {
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const Entry& e) { return e.first == key; });
  if (it == entries_.end()) return false;
  entries_.erase(it);
  return true;
}

bool HeaderTable::operator==(const HeaderTable& other) const {
  return entries_ == other.entries_;
}

nlohmann::json to_json(const HeaderTable& table) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, value] : table)
    out[key] = to_json(value);
  return out;
}

nlohmann::json to_json(const HeaderValue& value) {
  struct Visitor {
    nlohmann::json operator()(std::monostate) const { return nullptr; }
    nlohmann::json operator()(bool b) const { return b; }
    nlohmann::json operator()(std::int64_t i) const { return i; }
    nlohmann::json operator()(double d) const { return d; }
    nlohmann::json operator()(const std::string& s) const { return s; }
    nlohmann::json operator()(const ByteString& b) const {
      // Raw bytes may not be UTF-8; keep each byte as one code point (latin-1).
      std::string utf8;
      for (unsigned char c : b.bytes) {
        if (c < 0x80) {
          utf8 += static_cast<char>(c);
        } else {
          utf8 += static_cast<char>(0xC0 | (c >> 6));
          utf8 += static_cast<char>(0x80 | (c & 0x3F));
        }
      }
      return utf8;
    }
    nlohmann::json operator()(AmqpTimestamp t) const { return t.seconds; }
    nlohmann::json operator()(const HeaderArray& a) const {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& v : a)
        out.push_back(to_json(v));
      return out;
    }
    nlohmann::json operator()(const HeaderTable& t) const { return to_json(t); }
  };
  return std::visit(Visitor{}, value.value);
}

HeaderValue header_from_json(const nlohmann::json& json) {
  switch (json.type()) {
    case nlohmann::json::value_t::null:
      return {};
    case nlohmann::json::value_t::boolean:
      return json.get<bool>();
    case nlohmann::json::value_t::number_integer:
      return json.get<std::int64_t>();
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = json.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(INT64_MAX)) return static_cast<double>(u);
      return static_cast<std::int64_t>(u);
    }
    case nlohmann::json::value_t::number_float:
      return json.get<double>();
    case nlohmann::json::value_t::string:
      return json.get<std::string>();
    case nlohmann::json::value_t::array: {
      HeaderArray out;
      for (const auto& v : json)
        out.push_back(header_from_json(v));
      return out;
    }
    case nlohmann::json::value_t::object: {
      HeaderTable out;
      for (const auto& [key, v] : json.items())
        out.set(key, header_from_json(v));
      return out;
    }
    default:
      return {}; // binary and discarded values do not occur in parsed JSON
  }
}

} // namespace celeriac

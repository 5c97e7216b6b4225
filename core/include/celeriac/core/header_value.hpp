// AMQP header values as a small tree of core's own, so core speaks AMQP
// headers without including rabbitmq-c; the broker module converts to and
// from amqp_table_t. Tables keep their order (Celery's headers have an order
// that some readers rely on, e.g. timelimit = [hard, soft]).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace celeriac {

struct HeaderValue;
using HeaderArray = std::vector<HeaderValue>;

// An ordered AMQP field table. Lookups are linear: headers are few.
class HeaderTable {
 public:
  using Entry = std::pair<std::string, HeaderValue>;

  HeaderTable() = default;
  HeaderTable(std::initializer_list<Entry> entries);

  // The value under KEY, or nullptr.
  const HeaderValue* find(std::string_view key) const;
  // Sets KEY, replacing an existing entry in place or appending a new one.
  void set(std::string key, HeaderValue value);
  bool erase(std::string_view key);

  // Defined below HeaderValue, which must be complete first.
  void reserve(std::size_t entries);
  const std::vector<Entry>& entries() const;
  bool empty() const;
  std::size_t size() const;
  std::vector<Entry>::const_iterator begin() const;
  std::vector<Entry>::const_iterator end() const;
  bool operator==(const HeaderTable&) const;

 private:
  std::vector<Entry> entries_;
};

// AMQP timestamps are whole seconds since the epoch, distinct from integers on the wire.
struct AmqpTimestamp {
  std::uint64_t seconds = 0;
  bool operator==(const AmqpTimestamp&) const = default;
};

// Raw bytes (AMQP byte array 'x'), distinct from text strings.
struct ByteString {
  std::string bytes;
  bool operator==(const ByteString&) const = default;
};

// One AMQP field value: void, bool, integer, float, string, bytes, timestamp,
// array or table. Integer and float widths collapse to int64 and double.
struct HeaderValue {
  using Variant = std::variant<std::monostate, bool, std::int64_t, double, std::string, ByteString,
                               AmqpTimestamp, HeaderArray, HeaderTable>;
  Variant value;

  HeaderValue() = default;
  HeaderValue(std::nullptr_t) {}
  HeaderValue(bool b) : value(b) {}
  HeaderValue(int i) : value(std::int64_t{i}) {}
  HeaderValue(std::int64_t i) : value(i) {}
  HeaderValue(double d) : value(d) {}
  HeaderValue(const char* s) : value(std::string(s)) {}
  HeaderValue(std::string s) : value(std::move(s)) {}
  HeaderValue(ByteString b) : value(std::move(b)) {}
  HeaderValue(AmqpTimestamp t) : value(t) {}
  HeaderValue(HeaderArray a) : value(std::move(a)) {}
  HeaderValue(HeaderTable t) : value(std::move(t)) {}

  bool is_void() const { return std::holds_alternative<std::monostate>(value); }
  template <typename T>
  const T* get_if() const {
    return std::get_if<T>(&value);
  }
  bool operator==(const HeaderValue&) const = default;
};

inline const std::vector<HeaderTable::Entry>& HeaderTable::entries() const {
  return entries_;
}
inline void HeaderTable::reserve(std::size_t entries) {
  entries_.reserve(entries);
}
inline bool HeaderTable::empty() const {
  return entries_.empty();
}
inline std::size_t HeaderTable::size() const {
  return entries_.size();
}
inline std::vector<HeaderTable::Entry>::const_iterator HeaderTable::begin() const {
  return entries_.begin();
}
inline std::vector<HeaderTable::Entry>::const_iterator HeaderTable::end() const {
  return entries_.end();
}

// JSON view of a header value, for storing unknown headers and for logs:
// void is null, a timestamp its seconds, bytes a string with one code point
// per byte (latin-1), so any bytes give valid UTF-8.
nlohmann::json to_json(const HeaderValue& value);
nlohmann::json to_json(const HeaderTable& table);
// The inverse for JSON from our own store: objects become tables, arrays
// arrays, integers int64, other numbers double.
HeaderValue header_from_json(const nlohmann::json& json);

} // namespace celeriac

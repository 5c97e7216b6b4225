#include "celeriac/broker/amqp_table.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace celeriac::broker {
namespace {

amqp_bytes_t view(const std::string& s) {
  // rabbitmq-c takes non-const pointers but only reads them when encoding.
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

amqp_field_value_t to_field(const HeaderValue& value, amqp_pool_t& pool);

amqp_array_t to_array(const HeaderArray& array, amqp_pool_t& pool) {
  amqp_array_t out{0, nullptr};
  if (array.empty()) return out;
  out.entries = static_cast<amqp_field_value_t*>(
      amqp_pool_alloc(&pool, sizeof(amqp_field_value_t) * array.size()));
  for (const auto& v : array)
    out.entries[out.num_entries++] = to_field(v, pool);
  return out;
}

amqp_field_value_t to_field(const HeaderValue& value, amqp_pool_t& pool) {
  amqp_field_value_t f{};
  if (value.is_void()) {
    f.kind = AMQP_FIELD_KIND_VOID;
  } else if (const auto* b = value.get_if<bool>()) {
    f.kind = AMQP_FIELD_KIND_BOOLEAN;
    f.value.boolean = *b ? 1 : 0;
  } else if (const auto* i = value.get_if<std::int64_t>()) {
    f.kind = AMQP_FIELD_KIND_I64;
    f.value.i64 = *i;
  } else if (const auto* d = value.get_if<double>()) {
    f.kind = AMQP_FIELD_KIND_F64;
    f.value.f64 = *d;
  } else if (const auto* s = value.get_if<std::string>()) {
    f.kind = AMQP_FIELD_KIND_UTF8;
    f.value.bytes = view(*s);
  } else if (const auto* bytes = value.get_if<ByteString>()) {
    f.kind = AMQP_FIELD_KIND_BYTES;
    f.value.bytes = view(bytes->bytes);
  } else if (const auto* t = value.get_if<AmqpTimestamp>()) {
    f.kind = AMQP_FIELD_KIND_TIMESTAMP;
    f.value.u64 = t->seconds;
  } else if (const auto* a = value.get_if<HeaderArray>()) {
    f.kind = AMQP_FIELD_KIND_ARRAY;
    f.value.array = to_array(*a, pool);
  } else if (const auto* table = value.get_if<HeaderTable>()) {
    f.kind = AMQP_FIELD_KIND_TABLE;
    f.value.table = to_amqp_table(*table, pool);
  }
  return f;
}

std::string text(const amqp_bytes_t& b) {
  return b.len == 0 ? std::string() : std::string(static_cast<const char*>(b.bytes), b.len);
}

HeaderValue from_field(const amqp_field_value_t& f) {
  switch (f.kind) {
    case AMQP_FIELD_KIND_BOOLEAN:
      return f.value.boolean != 0;
    case AMQP_FIELD_KIND_I8:
      return std::int64_t{f.value.i8};
    case AMQP_FIELD_KIND_U8:
      return std::int64_t{f.value.u8};
    case AMQP_FIELD_KIND_I16:
      return std::int64_t{f.value.i16};
    case AMQP_FIELD_KIND_U16:
      return std::int64_t{f.value.u16};
    case AMQP_FIELD_KIND_I32:
      return std::int64_t{f.value.i32};
    case AMQP_FIELD_KIND_U32:
      return std::int64_t{f.value.u32};
    case AMQP_FIELD_KIND_I64:
      return f.value.i64;
    case AMQP_FIELD_KIND_U64:
      if (f.value.u64 > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return static_cast<double>(f.value.u64);
      }
      return static_cast<std::int64_t>(f.value.u64);
    case AMQP_FIELD_KIND_F32:
      return static_cast<double>(f.value.f32);
    case AMQP_FIELD_KIND_F64:
      return f.value.f64;
    case AMQP_FIELD_KIND_DECIMAL:
      return static_cast<double>(f.value.decimal.value) /
             std::pow(10.0, static_cast<double>(f.value.decimal.decimals));
    case AMQP_FIELD_KIND_UTF8:
      return text(f.value.bytes);
    case AMQP_FIELD_KIND_BYTES:
      return ByteString{text(f.value.bytes)};
    case AMQP_FIELD_KIND_TIMESTAMP:
      return AmqpTimestamp{f.value.u64};
    case AMQP_FIELD_KIND_ARRAY: {
      HeaderArray out;
      for (int i = 0; i < f.value.array.num_entries; ++i) {
        out.push_back(from_field(f.value.array.entries[i]));
      }
      return out;
    }
    case AMQP_FIELD_KIND_TABLE:
      return from_amqp_table(f.value.table);
    default:
      return {};
  }
}

} // namespace

amqp_table_t to_amqp_table(const HeaderTable& table, amqp_pool_t& pool) {
  amqp_table_t out{0, nullptr};
  if (table.empty()) return out;
  out.entries = static_cast<amqp_table_entry_t*>(
      amqp_pool_alloc(&pool, sizeof(amqp_table_entry_t) * table.size()));
  for (const auto& [key, value] : table) {
    amqp_table_entry_t& e = out.entries[out.num_entries++];
    e.key = view(key);
    e.value = to_field(value, pool);
  }
  return out;
}

HeaderTable from_amqp_table(const amqp_table_t& table) {
  HeaderTable out;
  // Sized once: growing by doubling ends, for a Celery message's headers, in
  // a block past glibc's small sizes, and each such request first merges
  // every free fast chunk of the arena (malloc_consolidate), once per message.
  out.reserve(static_cast<std::size_t>(std::max(table.num_entries, 0)));
  for (int i = 0; i < table.num_entries; ++i) {
    out.set(text(table.entries[i].key), from_field(table.entries[i].value));
  }
  return out;
}

} // namespace celeriac::broker

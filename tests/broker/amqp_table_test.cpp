// HeaderTable <-> amqp_table_t, proven through rabbitmq-c's own wire encoder
// and decoder (no network).
#include <amqp.h>

#include <doctest/doctest.h>

#include <vector>

#include "celeriac/broker/amqp_table.hpp"

using namespace celeriac;

namespace {

// Encodes TABLE to AMQP wire bytes with rabbitmq-c and decodes them back.
HeaderTable wire_round_trip(const HeaderTable& table) {
  amqp_pool_t pool;
  init_amqp_pool(&pool, 4096);
  amqp_table_t native = broker::to_amqp_table(table, pool);
  std::vector<char> buffer(1 << 16);
  amqp_bytes_t encoded{buffer.size(), buffer.data()};
  size_t offset = 0;
  REQUIRE(amqp_encode_table(encoded, &native, &offset) == AMQP_STATUS_OK);
  encoded.len = offset;
  amqp_table_t decoded;
  size_t read = 0;
  REQUIRE(amqp_decode_table(encoded, &pool, &decoded, &read) == AMQP_STATUS_OK);
  HeaderTable out = broker::from_amqp_table(decoded);
  empty_amqp_pool(&pool);
  return out;
}

} // namespace

TEST_CASE("every header value kind survives the AMQP wire") {
  const HeaderTable table{
      {"lang", "py"},
      {"id", "8f2939de-b4c7-4c6c-9e95-26de686d15d9"},
      {"shadow", nullptr},
      {"retries", 3},
      {"big", std::int64_t{1} << 40},
      {"ratio", 0.25},
      {"ignore_result", true},
      {"timelimit", HeaderArray{nullptr, 240}},
      {"raw", ByteString{std::string("\x00\xff\x01", 3)}},
      {"when", AmqpTimestamp{1'900'000'000}},
      {"nested", HeaderTable{{"deep", HeaderArray{HeaderTable{{"x", "y"}}, 1.5}}}},
      {"empty_array", HeaderArray{}},
      {"empty_table", HeaderTable{}},
      {"unicode", "Ünïcødé ✓"},
  };
  CHECK(wire_round_trip(table) == table);
}

TEST_CASE("narrow AMQP integer kinds widen to int64") {
  amqp_table_entry_t entries[3];
  entries[0] = amqp_table_entry_t{amqp_cstring_bytes("i8"), {}};
  entries[0].value.kind = AMQP_FIELD_KIND_I8;
  entries[0].value.value.i8 = -5;
  entries[1] = amqp_table_entry_t{amqp_cstring_bytes("u32"), {}};
  entries[1].value.kind = AMQP_FIELD_KIND_U32;
  entries[1].value.value.u32 = 4'000'000'000U;
  entries[2] = amqp_table_entry_t{amqp_cstring_bytes("f32"), {}};
  entries[2].value.kind = AMQP_FIELD_KIND_F32;
  entries[2].value.value.f32 = 0.5F;
  const amqp_table_t native{3, entries};
  const HeaderTable t = broker::from_amqp_table(native);
  CHECK(*t.find("i8") == HeaderValue(std::int64_t{-5}));
  CHECK(*t.find("u32") == HeaderValue(std::int64_t{4'000'000'000}));
  CHECK(*t.find("f32") == HeaderValue(0.5));
}

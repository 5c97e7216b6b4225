// Conversion between core's HeaderTable and rabbitmq-c's amqp_table_t.
//
// to_amqp_table allocates from POOL: the result lives until the pool is
// recycled or emptied, and points into TABLE's strings, so both must outlive
// the publish that uses it. from_amqp_table copies everything. Integer widths
// collapse to int64 (a u64 beyond int64 becomes a double), f32 to double, and
// AMQP decimals to double.
#pragma once

#include <amqp.h>

#include "celeriac/core/header_value.hpp"

namespace celeriac::broker {

amqp_table_t to_amqp_table(const HeaderTable& table, amqp_pool_t& pool);
HeaderTable from_amqp_table(const amqp_table_t& table);

} // namespace celeriac::broker

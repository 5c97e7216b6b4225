// How the daemons log: spdlog's human format, or one JSON object per line
// (`--log-format json`, worker.log_format, CELERIAC_LOG_FORMAT) for log shippers:
//
//   {"time":"2026-11-24T09:00:00.123456Z","level":"info","pid":4242,"message":"worker ..."}
#pragma once

#include "celeriac/core/config.hpp"

namespace celeriac::cli {

// Sets the default logger's pattern for FORMAT (times in UTC for JSON).
void use_log_format(LogFormat format);

} // namespace celeriac::cli

// One-shot uv timers owned by the code that starts them, freed in their close
// callback (STYLE.md: handle memory is freed only there).
#pragma once

#include <algorithm>
#include <chrono>

#include <uv.h>

#include "celeriac/core/time.hpp"

namespace celeriac::worker::detail {

inline uv_timer_t* start_timer(uv_loop_t* loop, void* data, Duration after, uv_timer_cb cb) {
  uv_update_time(loop); // count from now, not from when this loop turn began
  auto* timer = new uv_timer_t;
  uv_timer_init(loop, timer);
  timer->data = data;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(after).count();
  uv_timer_start(timer, cb, static_cast<std::uint64_t>(std::max<std::int64_t>(ms, 0)), 0);
  return timer;
}

// Closes TIMER (if any) and forgets it.
inline void close_timer(uv_timer_t*& timer) {
  if (timer == nullptr) return;
  uv_close(reinterpret_cast<uv_handle_t*>(timer),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  timer = nullptr;
}

} // namespace celeriac::worker::detail

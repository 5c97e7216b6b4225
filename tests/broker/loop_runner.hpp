// Runs a libuv loop on the test's thread until a condition holds, with a deadline.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>

namespace celeriac::test {

// Runs LOOP until CONDITION is true or TIMEOUT passes; returns CONDITION's last answer.
// A 5 ms timer keeps the loop waking so the condition is checked even when idle.
inline bool run_until(uv_loop_t* loop, const std::function<bool()>& condition,
                      std::chrono::milliseconds timeout) {
  uv_timer_t tick;
  uv_timer_init(loop, &tick);
  uv_timer_start(
      &tick, [](uv_timer_t*) {}, 5, 5);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool met = condition();
  while (!met && std::chrono::steady_clock::now() < deadline) {
    uv_run(loop, UV_RUN_ONCE);
    met = condition();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
  uv_run(loop, UV_RUN_NOWAIT); // let the close callback run while `tick` is alive
  return met;
}

// Closes every handle still open on LOOP and runs it until they are gone;
// returns uv_loop_close's result (0 when nothing was left behind).
inline int close_loop(uv_loop_t* loop) {
  uv_run(loop, UV_RUN_NOWAIT);
  return uv_loop_close(loop);
}

} // namespace celeriac::test

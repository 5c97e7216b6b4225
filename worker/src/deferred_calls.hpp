// DeferredCalls: functions run on the loop after a delay (an eta under a
// second, a job held for its rate limit), each on a one-shot uv timer. The
// owner can drop every call still pending (shutdown): they never run, and
// their timers are closed, so nothing fires into an owner that is gone.
//
// Threading: the loop thread only.
#pragma once

#include <uv.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <set>

#include "celeriac/core/time.hpp"

namespace celeriac::worker::detail {

class DeferredCalls {
 public:
  explicit DeferredCalls(uv_loop_t* loop) : loop_(loop) {}
  ~DeferredCalls() { cancel_all(); }
  DeferredCalls(const DeferredCalls&) = delete;
  DeferredCalls& operator=(const DeferredCalls&) = delete;

  void after(Duration delay, std::function<void()> fn) {
    auto* call = new Call{{}, std::move(fn), this};
    uv_timer_init(loop_, &call->timer);
    call->timer.data = call;
    pending_.insert(call);
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(delay).count();
    uv_timer_start(
        &call->timer,
        [](uv_timer_t* t) {
          auto* self = static_cast<Call*>(t->data);
          self->owner->pending_.erase(self);
          close(self);
          self->fn(); // still alive: freed only in the close callback
        },
        static_cast<std::uint64_t>(std::max<std::int64_t>(ms, 0)), 0);
  }

  // Drops every pending call without running it.
  void cancel_all() {
    for (Call* call : pending_)
      close(call);
    pending_.clear();
  }

  std::size_t pending() const { return pending_.size(); }

 private:
  struct Call {
    uv_timer_t timer;
    std::function<void()> fn;
    DeferredCalls* owner;
  };

  static void close(Call* call) {
    uv_close(reinterpret_cast<uv_handle_t*>(&call->timer),
             [](uv_handle_t* h) { delete static_cast<Call*>(h->data); });
  }

  uv_loop_t* loop_;
  std::set<Call*> pending_;
};

} // namespace celeriac::worker::detail

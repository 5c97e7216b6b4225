// Connection's room to write: rabbitmq-c writes each frame until it is all
// out and polls the socket with no timeout when the kernel's send buffer is
// full, so the loop must never hand it more than the buffer can take while the
// broker is not reading (frozen, or a slow network).
//
// Room is the kernel's own account, not a guess: SO_MEMINFO gives the send
// buffer's limit (SO_SNDBUF, autotuned) and the memory queued against it
// (data not yet acknowledged, with its bookkeeping), and the kernel takes a
// write while the queued memory is under the limit. The estimate of a
// message is padded for that bookkeeping, and a reserve is kept aside for the
// small frames written without asking (heartbeats, acks, RPCs,
// connection.close). Letting the queue fill to the limit, not to some safe
// fraction of it, matters: the kernel grows an autotuned buffer only when a
// writer finds it full, so a writer that stops at half would pin it at its
// first size. Over TLS each record adds a few bytes and OpenSSL holds at most
// the record it could not finish, so the estimate is padded and the same
// measure holds. Where SO_MEMINFO is missing, half of SO_SNDBUF less the
// bytes SIOCOUTQ reports queued is the room.
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>

#include "celeriac/broker/connection.hpp"

namespace celeriac::broker {
namespace {

constexpr std::size_t kReserve = 64 * 1024;
// POLLOUT comes when a third of the buffer is free; a writer that needs more
// (a message near the buffer's size) looks again on a timer instead, so a
// writable socket does not spin the loop.
constexpr std::uint64_t kRecheckMs = 2;

// The bytes the queue can still take, RESERVE kept aside.
std::size_t room_under(std::size_t limit, std::size_t used) {
  const std::size_t reserve = std::min(kReserve, limit / 4);
  return limit > used + reserve ? limit - used - reserve : 0;
}

} // namespace

// BYTES as the send queue counts them: the kernel's bookkeeping (about 1 KiB
// per 64 KiB buffer, more for small writes), and TLS record headers and tags.
std::size_t Connection::on_wire(std::size_t bytes) const {
  const std::size_t counted = bytes + bytes / 32 + 1024;
  return url_.tls ? counted + bytes / 128 + 256 : counted;
}

Connection::SendQueue Connection::measure_send_queue() const {
  const int fd = amqp_get_sockfd(state_);
  std::uint32_t memory[SK_MEMINFO_VARS] = {};
  socklen_t length = sizeof memory;
  if (::getsockopt(fd, SOL_SOCKET, SO_MEMINFO, memory, &length) == 0 &&
      length >= sizeof(std::uint32_t) * (SK_MEMINFO_WMEM_QUEUED + 1)) {
    const std::size_t queued = memory[SK_MEMINFO_WMEM_QUEUED];
    return SendQueue{room_under(memory[SK_MEMINFO_SNDBUF], queued), queued, true};
  }
  int buffer = 0;
  length = sizeof buffer;
  int queued = 0;
  if (::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, &length) != 0 ||
      ::ioctl(fd, SIOCOUTQ, &queued) != 0 || buffer <= 0 || queued < 0) {
    return SendQueue{};
  }
  const auto used = static_cast<std::size_t>(queued);
  return SendQueue{room_under(static_cast<std::size_t>(buffer) / 2, used), used, true};
}

bool Connection::reserve_send(std::size_t bytes) {
  if (state_ == nullptr) return false;
  bytes = on_wire(bytes);
  if (send_credit_ >= bytes) {
    send_credit_ -= bytes;
    return true;
  }
  const SendQueue queue = measure_send_queue();
  if (!queue.known) return true; // not Linux: writes may block, as rabbitmq-c always did
  send_credit_ = queue.room;
  if (send_credit_ >= bytes) {
    send_credit_ -= bytes;
    return true;
  }
  if (queue.queued == 0) { // larger than the buffer can ever hold: into an empty queue
    send_credit_ = 0;
    return true;
  }
  return false;
}

void Connection::wait_writable(std::size_t bytes, std::function<void()> ready) {
  if (poll_ == nullptr) return;
  writable_wanted_ = std::max<std::size_t>(on_wire(bytes), 1);
  writable_ready_ = std::move(ready);
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(recheck_)) == 0) watch_writable(true);
}

void Connection::cancel_wait_writable() {
  writable_wanted_ = 0;
  writable_ready_ = nullptr;
  if (poll_ != nullptr) watch_writable(false);
}

void Connection::watch_writable(bool on) {
  uv_poll_start(poll_, on ? UV_READABLE | UV_WRITABLE : UV_READABLE,
                [](uv_poll_t* handle, int, int events) {
                  static_cast<Connection*>(handle->data)->on_poll(events);
                });
}

void Connection::on_poll(int events) {
  if ((events & UV_WRITABLE) != 0) {
    on_writable_event();
    if (state_ == nullptr) return;
  }
  if ((events & UV_READABLE) != 0) {
    last_inbound_ = std::chrono::steady_clock::now();
    drain();
  }
}

void Connection::on_writable_event() {
  watch_writable(false);
  if (writable_wanted_ == 0) return;
  const SendQueue queue = measure_send_queue();
  const bool fits = !queue.known || queue.room >= writable_wanted_ || queue.queued == 0;
  if (!fits) {
    uv_timer_start(
        recheck_,
        [](uv_timer_t* t) {
          auto* self = static_cast<Connection*>(t->data);
          if (self->writable_wanted_ != 0) self->watch_writable(true);
        },
        kRecheckMs, 0);
    return;
  }
  writable_wanted_ = 0;
  send_credit_ = 0; // measure afresh for the next write
  auto ready = std::move(writable_ready_);
  writable_ready_ = nullptr;
  if (ready) ready();
}

} // namespace celeriac::broker

// Connection's room to write: rabbitmq-c writes each frame until it is all
// out and polls the socket with no timeout when the kernel's send buffer is
// full, so the loop must never hand it more than the buffer can take while the
// broker is not reading (frozen, or a slow network).
//
// Room is measured, not guessed: SO_SNDBUF is what the kernel lets the queue
// hold, counted with its bookkeeping, which it sizes at about twice the data
// (it doubles a value set with setsockopt for that reason, and autotuning
// budgets two bytes per byte of data), so half of it is taken as the data the
// queue can hold; SIOCOUTQ is the data queued and not yet acknowledged. A
// reserve is kept aside for the small frames written without asking
// (heartbeats, acks, RPCs, connection.close). Over TLS each record adds a few
// bytes and OpenSSL holds at most the record it could not finish, so the
// estimate is padded and the same measure holds.
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>

#include "celeriac/broker/connection.hpp"

namespace celeriac::broker {
namespace {

constexpr std::size_t kReserve = 64 * 1024;
// POLLOUT comes when a third of the buffer is free; a writer that needs more
// waits on a timer instead, so a writable socket does not spin the loop.
constexpr std::uint64_t kRecheckMs = 10;

} // namespace

std::size_t Connection::on_wire(std::size_t bytes) const {
  return url_.tls ? bytes + bytes / 128 + 256 : bytes; // TLS record headers and tags
}

Connection::SendQueue Connection::measure_send_queue() const {
  const int fd = amqp_get_sockfd(state_);
  int buffer = 0;
  socklen_t length = sizeof buffer;
  int queued = 0;
  if (::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, &length) != 0 ||
      ::ioctl(fd, SIOCOUTQ, &queued) != 0 || buffer <= 0 || queued < 0) {
    return SendQueue{};
  }
  const auto capacity = static_cast<std::size_t>(buffer) / 2;
  const std::size_t reserve = std::min(kReserve, capacity / 4);
  const auto used = static_cast<std::size_t>(queued) + reserve;
  return SendQueue{capacity > used ? capacity - used : 0, static_cast<std::size_t>(queued), true};
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

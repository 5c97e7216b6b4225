#include "celeriac/broker/broker_thread.hpp"

#include <spdlog/spdlog.h>

#include <memory>

namespace celeriac::broker {
namespace {

uv_handle_t* as_handle(uv_async_t* async) {
  return reinterpret_cast<uv_handle_t*>(async);
}

std::future<PublishResult> failed(const std::string& reason) {
  std::promise<PublishResult> promise;
  promise.set_value({PublishStatus::Failed, reason});
  return promise.get_future();
}

} // namespace

BrokerThread::BrokerThread(BrokerOptions options) {
  std::promise<void> started;
  auto ready = started.get_future();
  thread_ = std::thread([this, &started, options = std::move(options)]() mutable {
    run(std::move(options), started);
  });
  try {
    ready.get(); // the thread touches `started` no more once it is set
  } catch (...) {
    thread_.join();
    throw;
  }
}

BrokerThread::~BrokerThread() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    if (running_) uv_async_send(&wakeup_);
  }
  if (thread_.joinable()) thread_.join();
}

void BrokerThread::run(BrokerOptions options, std::promise<void>& started) {
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &wakeup_,
                [](uv_async_t* async) { static_cast<BrokerThread*>(async->data)->drain(); });
  wakeup_.data = this;
  try {
    broker_ = std::make_unique<Broker>(&loop_, std::move(options));
    broker_->start();
  } catch (...) {
    broker_.reset();
    uv_close(as_handle(&wakeup_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT); // runs the close callbacks
    uv_loop_close(&loop_);
    started.set_exception(std::current_exception());
    return;
  }
  {
    std::lock_guard lock(mutex_);
    running_ = true;
  }
  started.set_value();
  uv_run(&loop_, UV_RUN_DEFAULT); // until drain() has closed everything
  if (uv_loop_close(&loop_) != 0) spdlog::error("client: broker loop closed with handles open");
}

void BrokerThread::drain() {
  std::vector<Outgoing> batch;
  std::vector<std::function<void()>> calls;
  bool stop = false;
  {
    std::lock_guard lock(mutex_);
    batch.swap(queued_);
    calls.swap(calls_);
    stop = stopping_;
    if (stop) running_ = false; // from here on publish() fails at once
  }
  for (auto& call : calls)
    call();
  for (auto& message : batch)
    broker_->publish(std::move(message));
  if (!stop) return;
  broker_->stop(); // fails what is still unconfirmed: "broker stopped"
  broker_.reset(); // closes its handles; uv_run returns once they are gone
  uv_close(as_handle(&wakeup_), nullptr);
}

std::vector<std::future<PublishResult>> BrokerThread::publish(std::vector<Outgoing> messages) {
  std::vector<std::future<PublishResult>> futures;
  futures.reserve(messages.size());
  std::lock_guard lock(mutex_);
  if (!running_) {
    for (std::size_t i = 0; i < messages.size(); ++i)
      futures.push_back(failed("the client is stopped"));
    return futures;
  }
  for (auto& message : messages) {
    auto promise = std::make_shared<std::promise<PublishResult>>();
    futures.push_back(promise->get_future());
    message.done = [promise](const PublishResult& result) { promise->set_value(result); };
    queued_.push_back(std::move(message));
  }
  // Under the lock: while running_ holds, drain() has not closed the handle.
  uv_async_send(&wakeup_);
  return futures;
}

} // namespace celeriac::broker

namespace celeriac::broker {

bool BrokerThread::listen(PrivateQueue queue) {
  std::lock_guard lock(mutex_);
  if (!running_) return false;
  calls_.push_back(
      [this, queue = std::move(queue)]() mutable { broker_->listen(std::move(queue)); });
  uv_async_send(&wakeup_);
  return true;
}

} // namespace celeriac::broker

// `celeriac worker` started before its broker answers waits for it, the way
// it waits after losing it later, and runs jobs once it connects (Celery's
// broker_connection_retry_on_startup). The broker is reached through a TCP
// forwarder of the test's own, closed at first (connection refused, as for
// a broker not up yet) and opened later, so the shared broker keeps running
// for the other tests.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <csignal>
#include <regex>
#include <thread>

#include "cli_queues.hpp"

using celeriac::test::CliProcess;
using celeriac::test::CliQueues;
using celeriac::test::run_celeriac;

namespace {

// A socket listening on, or connected to, 127.0.0.1:PORT; -1 when that failed.
// (No REQUIRE here: the forwarder's own thread calls it, and doctest's
// assertions belong to the test's thread.)
int loopback_socket(int port, bool listening) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  auto* raw = reinterpret_cast<sockaddr*>(&address);
  bool ok = false;
  if (listening) {
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    ok = ::bind(fd, raw, sizeof address) == 0 && ::listen(fd, 16) == 0;
  } else {
    ok = ::connect(fd, raw, sizeof address) == 0;
  }
  if (ok) return fd;
  ::close(fd);
  return -1;
}

// Forwards 127.0.0.1:port() to 127.0.0.1:TARGET once open() was called;
// until then nothing listens on port() and connecting is refused.
class Forwarder {
 public:
  explicit Forwarder(int target) : target_(target) {
    const int probe = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    REQUIRE(::bind(probe, reinterpret_cast<sockaddr*>(&address), size) == 0);
    REQUIRE(::getsockname(probe, reinterpret_cast<sockaddr*>(&address), &size) == 0);
    port_ = ntohs(address.sin_port);
    ::close(probe); // free again: refused until open()
  }
  ~Forwarder() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  int port() const { return port_; }

  void open() {
    const int listener = loopback_socket(port_, true);
    REQUIRE_MESSAGE(listener >= 0, "cannot listen on 127.0.0.1:" << port_);
    thread_ = std::thread([this, listener] { serve(listener); });
  }

 private:
  // One thread: accepts, and copies bytes both ways for every pair.
  void serve(int listener) {
    std::vector<std::pair<int, int>> pairs; // (from, to), both directions listed
    while (!stop_) {
      std::vector<pollfd> polled{{listener, POLLIN, 0}};
      for (const auto& [from, to] : pairs)
        polled.push_back({from, POLLIN, 0});
      if (::poll(polled.data(), polled.size(), 100) <= 0) continue;
      if (polled[0].revents & POLLIN) {
        const int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (client >= 0) {
          const int upstream = loopback_socket(target_, false);
          if (upstream < 0) {
            ::close(client); // the worker sees a lost connection and retries
          } else {
            pairs.emplace_back(client, upstream);
            pairs.emplace_back(upstream, client);
          }
        }
      }
      for (std::size_t i = 1; i < polled.size(); ++i) {
        if (polled[i].revents == 0) continue;
        char buffer[64 * 1024];
        const ssize_t n = ::read(polled[i].fd, buffer, sizeof buffer);
        const int to = pairs[i - 1].second;
        if (n <= 0 || ::send(to, buffer, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) {
          ::shutdown(to, SHUT_RDWR); // the other direction sees its end too
          pairs[i - 1].first = -1;
        }
      }
      std::erase_if(pairs, [](const auto& p) {
        if (p.first >= 0) return false;
        ::close(p.second);
        return true;
      });
    }
    for (const auto& [from, to] : pairs)
      ::close(from);
    ::close(listener);
  }

  int target_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

} // namespace

TEST_CASE("a worker started before its broker waits for it, then runs jobs; SIGTERM exits 0") {
  CliQueues q;
  REQUIRE(run_celeriac({"migrate"}, q.env).code == 0);
  std::smatch m;
  const std::string url = q.env.at("CELERIAC_BROKER_URL");
  REQUIRE(std::regex_search(url, m, std::regex(R"(^(amqp://[^@]*@)127\.0\.0\.1:(\d+)(/.*)$)")));
  Forwarder forwarder(std::stoi(m[2].str()));
  auto worker_env = q.env;
  worker_env["CELERIAC_BROKER_URL"] =
      m[1].str() + "127.0.0.1:" + std::to_string(forwarder.port()) + m[3].str();

  CliProcess worker({"worker", "-Q", q.main, "-c", "1"}, worker_env);
  // Before, it exited 1 at once; now it keeps retrying. Watched for 2 s.
  const auto watch_until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  bool exited = false;
  while (!exited && std::chrono::steady_clock::now() < watch_until) {
    exited = worker.exited();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE_FALSE(exited);

  forwarder.open();
  const auto added = run_celeriac(
      {"enqueue", "demo.add", "--queue", q.main, "--args", "[2, 3]", "--wait", "--timeout", "60s"},
      q.env);
  CHECK_MESSAGE(added.code == 0, added.err);
  CHECK(added.out.ends_with("\n5\n"));

  worker.signal(SIGTERM);
  const auto stopped = worker.finish(std::chrono::seconds(60));
  CHECK_MESSAGE(stopped.code == 0, stopped.err);
  CHECK(stopped.err.find("retrying until it answers") != std::string::npos);
  CHECK(stopped.err.find("broker: connected to") != std::string::npos);
  CHECK(q.depth(q.main) == 0);
}

// Poison: messages no worker can run, published straight to the job queues
// (bypassing the client's checks), and the dead-letter queues they must end
// up in. RawBroker is a celeriac Broker on a loop of the driver's own thread.
//
// Threading: one thread (the driver's) calls everything; the loop runs only
// inside these calls, so call keep_alive() now and then to answer heartbeats.
#pragma once

#include <uv.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "celeriac/broker/broker.hpp"
#include "chaos_options.hpp"

namespace celeriac::chaos {

// The header that names a poison message ("<kind>#<n>"), kept in its dead letter.
inline constexpr const char* kPoisonHeader = "x-chaos-poison";
inline constexpr const char* kDeadReasonHeader = "x-celeriac-dead-reason";

struct PoisonMessage {
  std::string kind;   // "not-json", "truncated-json", "unknown-task", ...
  std::string marker; // its kPoisonHeader value, unique in the run
  std::string queue;
  Message message;
};

// ROUNDS of every kind, spread over QUEUES.
std::vector<PoisonMessage> make_poison(const std::vector<std::string>& queues, int rounds);

// What the dead-letter queues held.
struct DeadLetters {
  std::map<std::string, std::string> poison_reasons; // marker -> reason ("" without the header)
  std::map<std::string, std::string> poison_queues;  // marker -> the dead queue it was in
  std::map<std::string, int> other_reasons;          // the other dead letters, by reason
  int total = 0;
};

class RawBroker {
 public:
  RawBroker(const ChaosOptions& options, const std::vector<std::string>& queues);
  ~RawBroker();
  RawBroker(const RawBroker&) = delete;
  RawBroker& operator=(const RawBroker&) = delete;

  // Publishes MESSAGES to their queues through the default exchange; true once
  // the broker confirmed every one before TIMEOUT.
  bool publish(const std::vector<PoisonMessage>& messages, Seconds timeout);
  void keep_alive();
  // Takes (and acks) every dead letter of the job queues until each of
  // MARKERS has been seen and the dead-letter queues are empty, or TIMEOUT.
  DeadLetters drain_dead(const std::vector<std::string>& markers, Seconds timeout);
  // Deletes the job queues and their dead-letter queues.
  void delete_queues();

 private:
  bool run_until(const std::function<bool()>& condition, Seconds timeout);
  void take(broker::Delivery&& delivery);
  bool dead_queues_empty();

  std::vector<std::string> queues_;
  uv_loop_t loop_{};
  std::unique_ptr<broker::Broker> broker_;
  DeadLetters dead_;
};

} // namespace celeriac::chaos

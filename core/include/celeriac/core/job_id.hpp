// JobId: a job's identity, a UUID (v4 for new jobs; v5 for scheduled fires).
// Celery task ids are UUID strings in the canonical 8-4-4-4-12 form, and that
// is the only form accepted. Core has no random source: the caller brings the
// 16 random bytes for v4.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace celeriac {

class JobId {
 public:
  using Bytes = std::array<std::uint8_t, 16>;

  // The nil UUID (all zero): "no id".
  JobId() = default;
  explicit JobId(const Bytes& bytes) : bytes_(bytes) {}

  // A version-4 UUID from 16 random bytes (version and variant bits are set here).
  static JobId v4(Bytes random);
  // Canonical text (case-insensitive hex); nullopt for anything else.
  static std::optional<JobId> parse(std::string_view text);

  // Lower-case canonical text, "2f1c4d1e-8a7b-4c3d-9e2f-0a1b2c3d4e5f".
  std::string str() const;
  const Bytes& bytes() const { return bytes_; }
  bool is_nil() const { return bytes_ == Bytes{}; }
  int version() const { return bytes_[6] >> 4; }

  auto operator<=>(const JobId&) const = default;

 private:
  Bytes bytes_{};
};

} // namespace celeriac

template <>
struct std::hash<celeriac::JobId> {
  std::size_t operator()(const celeriac::JobId& id) const noexcept;
};

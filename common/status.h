// Status and Result<T>: the error currency of Berth's own code.
//
// A Status is cheap to copy when OK (no allocation). Its code follows the Kubernetes
// API's error reasons so that one function (apiserver/api_errors.h) can turn any Status
// into an upstream Status object with the right HTTP code. Exceptions from libraries are
// caught at one adapter per library and converted here; they never cross module borders.
// Thread-safety: values, no shared state.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace berth {

enum class Code {
  kOk = 0,
  kBadRequest,            // 400 BadRequest: malformed input, unsupported selector, strict decoding
  kUnauthorized,          // 401
  kForbidden,             // 403
  kNotFound,              // 404
  kMethodNotAllowed,      // 405
  kNotAcceptable,         // 406
  kAlreadyExists,         // 409 AlreadyExists
  kConflict,              // 409 Conflict (CAS failure, field manager conflict)
  kExpired,               // 410 Expired (compacted revision, expired continue token)
  kRequestEntityTooLarge, // 413
  kUnsupportedMediaType,  // 415
  kInvalid,               // 422 Invalid (validation, with causes)
  kTooManyRequests,       // 429
  kInternal,              // 500 InternalError
  kUnavailable,           // 503 ServiceUnavailable
  kTimeout,               // 504 Timeout
};

// One field-level cause of an error, as in metav1.StatusCause.
struct Cause {
  std::string reason;   // e.g. FieldValueInvalid, FieldValueRequired, FieldManagerConflict
  std::string message;  // e.g. "Invalid value: -1: must be greater than or equal to 0"
  std::string field;    // e.g. "spec.replicas"
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message);

  static Status ok() { return Status(); }

  bool isOk() const { return rep_ == nullptr; }
  Code code() const { return rep_ ? rep_->code : Code::kOk; }
  const std::string& message() const;
  const std::vector<Cause>& causes() const;

  // Returns a copy with a cause appended.
  Status withCause(Cause cause) const;
  // Returns a copy whose message is prefixed by "context: ".
  Status withContext(const std::string& context) const;

  std::string toString() const;

 private:
  struct Rep {
    Code code;
    std::string message;
    std::vector<Cause> causes;
  };
  std::shared_ptr<const Rep> rep_;
};

inline Status badRequest(std::string m) { return Status(Code::kBadRequest, std::move(m)); }
inline Status notFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
inline Status conflict(std::string m) { return Status(Code::kConflict, std::move(m)); }
inline Status alreadyExists(std::string m) { return Status(Code::kAlreadyExists, std::move(m)); }
inline Status invalid(std::string m) { return Status(Code::kInvalid, std::move(m)); }
inline Status internalError(std::string m) { return Status(Code::kInternal, std::move(m)); }
inline Status expired(std::string m) { return Status(Code::kExpired, std::move(m)); }

// Result<T> holds either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                   // NOLINT: implicit on purpose
  Result(Status status) : v_(std::move(status)) {}            // NOLINT: implicit on purpose

  bool isOk() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return isOk(); }

  const Status& status() const {
    static const Status kOkStatus;
    return isOk() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

// Early-return helpers.
#define BERTH_RETURN_IF_ERROR(expr)          \
  do {                                       \
    ::berth::Status _st = (expr);            \
    if (!_st.isOk()) return _st;             \
  } while (0)

#define BERTH_CONCAT_INNER(a, b) a##b
#define BERTH_CONCAT(a, b) BERTH_CONCAT_INNER(a, b)
#define BERTH_ASSIGN_OR_RETURN(lhs, expr) \
  BERTH_ASSIGN_OR_RETURN_IMPL(BERTH_CONCAT(_res_, __LINE__), lhs, expr)
#define BERTH_ASSIGN_OR_RETURN_IMPL(res, lhs, expr) \
  auto res = (expr);                                \
  if (!res.isOk()) return res.status();             \
  lhs = std::move(res).value()

}  // namespace berth

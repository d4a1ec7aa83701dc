#include "common/status.h"

namespace berth {

Status::Status(Code code, std::string message) {
  if (code != Code::kOk) rep_ = std::make_shared<const Rep>(Rep{code, std::move(message), {}});
}

const std::string& Status::message() const {
  static const std::string kEmpty;
  return rep_ ? rep_->message : kEmpty;
}

const std::vector<Cause>& Status::causes() const {
  static const std::vector<Cause> kNone;
  return rep_ ? rep_->causes : kNone;
}

Status Status::withCause(Cause cause) const {
  if (!rep_) return *this;
  Rep r = *rep_;
  r.causes.push_back(std::move(cause));
  Status s;
  s.rep_ = std::make_shared<const Rep>(std::move(r));
  return s;
}

Status Status::withContext(const std::string& context) const {
  if (!rep_) return *this;
  Rep r = *rep_;
  r.message = context + ": " + r.message;
  Status s;
  s.rep_ = std::make_shared<const Rep>(std::move(r));
  return s;
}

std::string Status::toString() const {
  if (!rep_) return "OK";
  std::string s = rep_->message;
  for (const auto& c : rep_->causes) s += "; " + c.field + ": " + c.message;
  return s;
}

}  // namespace berth

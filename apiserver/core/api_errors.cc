#include "apiserver/core/api_errors.h"

#include <nlohmann/json.hpp>

#include "apiserver/kinds/kind_spec.h"

namespace berth::apiserver {

int httpCode(Code code) {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kBadRequest: return 400;
    case Code::kUnauthorized: return 401;
    case Code::kForbidden: return 403;
    case Code::kNotFound: return 404;
    case Code::kMethodNotAllowed: return 405;
    case Code::kNotAcceptable: return 406;
    case Code::kAlreadyExists: return 409;
    case Code::kConflict: return 409;
    case Code::kExpired: return 410;
    case Code::kRequestEntityTooLarge: return 413;
    case Code::kUnsupportedMediaType: return 415;
    case Code::kInvalid: return 422;
    case Code::kTooManyRequests: return 429;
    case Code::kInternal: return 500;
    case Code::kUnavailable: return 503;
    case Code::kTimeout: return 504;
  }
  return 500;
}

std::string reasonFor(Code code) {
  switch (code) {
    case Code::kOk: return "";
    case Code::kBadRequest: return "BadRequest";
    case Code::kUnauthorized: return "Unauthorized";
    case Code::kForbidden: return "Forbidden";
    case Code::kNotFound: return "NotFound";
    case Code::kMethodNotAllowed: return "MethodNotAllowed";
    case Code::kNotAcceptable: return "NotAcceptable";
    case Code::kAlreadyExists: return "AlreadyExists";
    case Code::kConflict: return "Conflict";
    case Code::kExpired: return "Expired";
    case Code::kRequestEntityTooLarge: return "RequestEntityTooLarge";
    case Code::kUnsupportedMediaType: return "UnsupportedMediaType";
    case Code::kInvalid: return "Invalid";
    case Code::kTooManyRequests: return "TooManyRequests";
    case Code::kInternal: return "InternalError";
    case Code::kUnavailable: return "ServiceUnavailable";
    case Code::kTimeout: return "Timeout";
  }
  return "InternalError";
}

nlohmann::json statusObject(const Status& status, const std::string& name,
                            const std::string& group, const std::string& details_kind) {
  nlohmann::json s = {{"kind", "Status"},
                      {"apiVersion", "v1"},
                      {"metadata", nlohmann::json::object()},
                      {"status", "Failure"},
                      {"message", status.message()},
                      {"reason", reasonFor(status.code())},
                      {"code", httpCode(status.code())}};
  nlohmann::json details = nlohmann::json::object();
  if (!name.empty()) details["name"] = name;
  if (!group.empty()) details["group"] = group;
  if (!details_kind.empty()) details["kind"] = details_kind;
  if (!status.causes().empty()) {
    nlohmann::json causes = nlohmann::json::array();
    for (const auto& c : status.causes()) {
      nlohmann::json cj = {{"reason", c.reason}, {"message", c.message}};
      if (!c.field.empty()) cj["field"] = c.field;
      causes.push_back(std::move(cj));
    }
    details["causes"] = std::move(causes);
  }
  for (const auto& c : status.causes())
    if (c.reason == "ResourceVersionTooLarge") details["retryAfterSeconds"] = 1;
  if (!details.empty()) s["details"] = std::move(details);
  return s;
}

Status tooLargeResourceVersion(int64_t wanted, int64_t current) {
  return Status(Code::kTimeout, "Timeout: Too large resource version: " + std::to_string(wanted) +
                                    ", current: " + std::to_string(current))
      .withCause({"ResourceVersionTooLarge", "Too large resource version", ""});
}

Status invalidOptions(const std::string& options_kind, const std::vector<Cause>& causes) {
  std::string msg = options_kind + ".meta.k8s.io \"\" is invalid: ";
  if (causes.size() == 1) {
    msg += causes[0].field + ": " + causes[0].message;
  } else {
    msg += "[";
    for (size_t i = 0; i < causes.size(); ++i)
      msg += (i ? ", " : "") + causes[i].field + ": " + causes[i].message;
    msg += "]";
  }
  Status s(Code::kInvalid, msg);
  for (const auto& c : causes) s = s.withCause(c);
  return s;
}

Status notFoundError(const KindSpec& k, const std::string& name) {
  return Status(Code::kNotFound, k.qualifiedResource() + " \"" + name + "\" not found");
}

Status alreadyExistsError(const KindSpec& k, const std::string& name) {
  return Status(Code::kAlreadyExists, k.qualifiedResource() + " \"" + name + "\" already exists");
}

Status conflictError(const KindSpec& k, const std::string& name) {
  return Status(Code::kConflict, "Operation cannot be fulfilled on " + k.qualifiedResource() +
                                     " \"" + name +
                                     "\": the object has been modified; please apply your "
                                     "changes to the latest version and try again");
}

Status invalidError(const KindSpec& k, const std::string& name, const std::vector<Cause>& causes) {
  std::string msg = k.qualifiedKind() + " \"" + name + "\" is invalid: ";
  if (causes.size() == 1) {
    msg += causes[0].field + ": " + causes[0].message;
  } else {
    msg += "[";
    for (size_t i = 0; i < causes.size(); ++i) {
      if (i) msg += ", ";
      msg += causes[i].field + ": " + causes[i].message;
    }
    msg += "]";
  }
  Status s(Code::kInvalid, msg);
  for (const auto& c : causes) s = s.withCause(c);
  return s;
}

nlohmann::json successStatus(const std::string& name, const std::string& group,
                             const std::string& kind, const std::string& uid) {
  nlohmann::json details = {{"name", name}, {"kind", kind}};
  if (!group.empty()) details["group"] = group;
  if (!uid.empty()) details["uid"] = uid;
  return {{"kind", "Status"},
          {"apiVersion", "v1"},
          {"metadata", nlohmann::json::object()},
          {"status", "Success"},
          {"details", details}};
}

}  // namespace berth::apiserver

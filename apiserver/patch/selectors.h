// Label and field selectors, as the API's `labelSelector` / `fieldSelector` query parameters and
// metav1.LabelSelector objects (Deployment/ReplicaSet/Service selectors) express them.
//
// Parsing follows upstream's grammar and error texts (k8s.io/apimachinery pkg/labels and
// pkg/fields), so kubectl users see the messages they know. Also home of the label key/value
// syntax checks that validation code elsewhere reuses.
//
// Thread-safety: selectors are immutable values once parsed; all functions are pure.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace berth::apiserver::patch {

// Upstream-style messages for a label key (a qualified name: optional DNS-subdomain prefix and
// '/', then a name of at most 63 characters). Empty when valid.
std::vector<std::string> validateLabelKey(std::string_view key);
// Upstream-style messages for a label value (empty, or at most 63 characters of the name form).
std::vector<std::string> validateLabelValue(std::string_view value);
// Upstream-style messages for a lowercase RFC 1123 subdomain (at most 253 characters).
std::vector<std::string> validateDns1123Subdomain(std::string_view value);

class LabelSelector {
 public:
  enum class Op { kEquals, kDoubleEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist, kGt, kLt };
  struct Requirement {
    std::string key;
    Op op = Op::kExists;
    std::vector<std::string> values;  // sorted, de-duplicated
    bool matches(const nlohmann::json& labels) const;
    std::string toString() const;
  };

  // An empty selector: matches everything.
  LabelSelector() = default;
  // A selector that matches nothing (a null metav1.LabelSelector).
  static LabelSelector nothing();

  // The query-string syntax: "a=b,c!=d,e in (x,y),f notin (z),g,!h". Errors are kBadRequest.
  static Result<LabelSelector> parse(std::string_view text);
  // A metav1.LabelSelector object {matchLabels, matchExpressions}. A null JSON value gives
  // nothing(); an empty object gives everything. Errors are kInvalid.
  static Result<LabelSelector> fromObject(const nlohmann::json& label_selector);

  // `labels` is a labels object (string values) or null.
  bool matches(const nlohmann::json& labels) const;
  bool empty() const { return !nothing_ && reqs_.empty(); }
  bool matchesNothing() const { return nothing_; }
  const std::vector<Requirement>& requirements() const { return reqs_; }
  // Canonical form, requirements sorted by key: "app=web,tier in (a,b)".
  std::string toString() const;

 private:
  std::vector<Requirement> reqs_;
  bool nothing_ = false;
};

class FieldSelector {
 public:
  enum class Op { kEquals, kDoubleEquals, kNotEquals };
  struct Requirement {
    std::string field;
    Op op = Op::kEquals;
    std::string value;  // unescaped
  };

  FieldSelector() = default;
  // "f=v,g!=w"; values may escape '\', ',' and '=' with a backslash. Errors are kBadRequest.
  static Result<FieldSelector> parse(std::string_view text);

  const std::vector<Requirement>& requirements() const { return reqs_; }
  bool empty() const { return reqs_.empty(); }
  // `get` returns a field's value; nullopt counts as the empty string, as upstream.
  bool matches(const std::function<std::optional<std::string>(const std::string& field)>& get) const;
  // The value a requirement `field=v` / `field==v` pins, if any (for index lookups).
  std::optional<std::string> requiresExactMatch(const std::string& field) const;
  std::string toString() const;

 private:
  std::vector<Requirement> reqs_;
};

}  // namespace berth::apiserver::patch

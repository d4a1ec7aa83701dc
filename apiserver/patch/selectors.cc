#include "apiserver/patch/selectors.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <map>

#include "apiserver/patch/schema_walk.h"
#include "common/strings.h"

namespace berth::apiserver::patch {
namespace {

constexpr std::string_view kQualifiedNameFmt = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
constexpr std::string_view kQualifiedNameErrMsg =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character";
constexpr std::string_view kLabelValueFmt = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
constexpr std::string_view kLabelValueErrMsg =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character";
constexpr std::string_view kDns1123SubdomainFmt =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
constexpr std::string_view kDns1123SubdomainErrMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character";

// Upstream's validation.RegexError wording, examples included.
std::string regexError(std::string_view msg, std::string_view fmt,
                       const std::vector<std::string_view>& examples) {
  std::string s(msg);
  if (examples.empty()) return s + " (regex used for validation is '" + std::string(fmt) + "')";
  s += " (e.g. ";
  for (size_t i = 0; i < examples.size(); ++i) {
    if (i > 0) s += " or ";
    s += "'" + std::string(examples[i]) + "', ";
  }
  s += "regex used for validation is '" + std::string(fmt) + "')";
  return s;
}

std::string maxLenError(size_t n) { return "must be no more than " + std::to_string(n) + " characters"; }

bool isAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]
bool isQualifiedNamePart(std::string_view s) {
  if (s.empty() || !isAlnum(s.front()) || !isAlnum(s.back())) return false;
  for (char c : s) {
    if (!isAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

bool isDns1123Label(std::string_view s) {
  if (s.empty()) return false;
  auto lowerAlnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lowerAlnum(s.front()) || !lowerAlnum(s.back())) return false;
  for (char c : s) {
    if (!lowerAlnum(c) && c != '-') return false;
  }
  return true;
}

bool isDns1123Subdomain(std::string_view s) {
  if (s.empty()) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (!isDns1123Label(label)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string goQuote(std::string_view s) { return internal::dumpJson(nlohmann::json(std::string(s))); }

std::string goStringSlice(const std::vector<std::string>& v) {
  std::string s = "[]string{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) s += ", ";
    s += goQuote(v[i]);
  }
  return s + "}";
}

// field.Invalid(path, value, detail).Error()
std::string invalidError(std::string_view path, std::string_view quoted_value,
                         std::string_view detail) {
  return std::string(path) + ": Invalid value: " + std::string(quoted_value) + ": " +
         std::string(detail);
}

// errors.ToAggregate().Error()
std::string aggregate(const std::vector<std::string>& errs) {
  if (errs.size() == 1) return errs[0];
  return "[" + join(errs, ", ") + "]";
}

const char* opString(LabelSelector::Op op) {
  switch (op) {
    case LabelSelector::Op::kEquals: return "=";
    case LabelSelector::Op::kDoubleEquals: return "==";
    case LabelSelector::Op::kNotEquals: return "!=";
    case LabelSelector::Op::kIn: return "in";
    case LabelSelector::Op::kNotIn: return "notin";
    case LabelSelector::Op::kExists: return "exists";
    case LabelSelector::Op::kDoesNotExist: return "!";
    case LabelSelector::Op::kGt: return ">";
    case LabelSelector::Op::kLt: return "<";
  }
  return "";
}

// Upstream's labels.NewRequirement checks; `path` is the field-path prefix ("" for none).
std::vector<std::string> checkRequirement(const LabelSelector::Requirement& r,
                                          const std::string& path) {
  std::vector<std::string> errs;
  auto child = [&](const std::string& name) { return path.empty() ? name : path + "." + name; };
  if (auto msgs = validateLabelKey(r.key); !msgs.empty()) {
    errs.push_back(invalidError(child("key"), goQuote(r.key), join(msgs, "; ")));
  }
  std::string values_path = child("values");
  using Op = LabelSelector::Op;
  switch (r.op) {
    case Op::kIn:
    case Op::kNotIn:
      if (r.values.empty()) {
        errs.push_back(invalidError(values_path, goStringSlice(r.values),
                                    "for 'in', 'notin' operators, values set can't be empty"));
      }
      break;
    case Op::kEquals:
    case Op::kDoubleEquals:
    case Op::kNotEquals:
      if (r.values.size() != 1) {
        errs.push_back(invalidError(values_path, goStringSlice(r.values),
                                    "exact-match compatibility requires one single value"));
      }
      break;
    case Op::kExists:
    case Op::kDoesNotExist:
      if (!r.values.empty()) {
        errs.push_back(invalidError(values_path, goStringSlice(r.values),
                                    "values set must be empty for exists and does not exist"));
      }
      break;
    case Op::kGt:
    case Op::kLt:
      if (r.values.size() != 1) {
        errs.push_back(invalidError(values_path, goStringSlice(r.values),
                                    "for 'Gt', 'Lt' operators, exactly one value is required"));
      }
      for (size_t i = 0; i < r.values.size(); ++i) {
        char* end = nullptr;
        const std::string& v = r.values[i];
        errno = 0;
        std::strtoll(v.c_str(), &end, 10);
        if (v.empty() || *end != '\0' || errno != 0) {
          errs.push_back(invalidError(values_path + "[" + std::to_string(i) + "]", goQuote(v),
                                      "for 'Gt', 'Lt' operators, the value must be an integer"));
        }
      }
      break;
  }
  for (size_t i = 0; i < r.values.size(); ++i) {
    if (auto msgs = validateLabelValue(r.values[i]); !msgs.empty()) {
      errs.push_back(invalidError(values_path + "[" + std::to_string(i) + "][" + r.key + "]",
                                  goQuote(r.values[i]), join(msgs, "; ")));
    }
  }
  return errs;
}

void sortUnique(std::vector<std::string>* v) {
  std::sort(v->begin(), v->end());
  v->erase(std::unique(v->begin(), v->end()), v->end());
}

// ---- the query-string lexer and parser ------------------------------------------------------

enum class Tok {
  kEnd, kIdent, kComma, kBang, kEq, kDEq, kNEq, kIn, kNotIn, kOpen, kClose, kGt, kLt, kError
};

struct Token {
  Tok tok;
  std::string lit;
};

bool isWhitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool isSpecial(char c) {
  return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

std::optional<Tok> symbolToken(std::string_view s) {
  static const std::map<std::string_view, Tok> kSymbols = {
      {")", Tok::kClose}, {",", Tok::kComma}, {"!", Tok::kBang}, {"==", Tok::kDEq},
      {"=", Tok::kEq},    {">", Tok::kGt},    {"<", Tok::kLt},   {"!=", Tok::kNEq},
      {"(", Tok::kOpen}};
  auto it = kSymbols.find(s);
  if (it == kSymbols.end()) return std::nullopt;
  return it->second;
}

std::vector<Token> lex(std::string_view s) {
  std::vector<Token> out;
  size_t pos = 0;
  while (true) {
    while (pos < s.size() && isWhitespace(s[pos])) ++pos;
    if (pos >= s.size()) {
      out.push_back({Tok::kEnd, ""});
      return out;
    }
    if (isSpecial(s[pos])) {
      // Longest run of special characters that still forms a known symbol.
      std::string buf;
      std::optional<Token> last;
      while (pos < s.size() && isSpecial(s[pos])) {
        buf += s[pos];
        if (auto t = symbolToken(buf)) {
          last = Token{*t, buf};
          ++pos;
        } else if (last) {
          break;
        } else {
          ++pos;
        }
      }
      if (!last) {
        out.push_back({Tok::kError, "error expected: keyword found '" + buf + "'"});
      } else {
        out.push_back(*last);
      }
      continue;
    }
    size_t start = pos;
    while (pos < s.size() && !isSpecial(s[pos]) && !isWhitespace(s[pos])) ++pos;
    std::string word(s.substr(start, pos - start));
    if (word == "in") out.push_back({Tok::kIn, word});
    else if (word == "notin") out.push_back({Tok::kNotIn, word});
    else out.push_back({Tok::kIdent, word});
  }
}

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : toks_(std::move(toks)) {}

  Result<std::vector<LabelSelector::Requirement>> parse() {
    std::vector<LabelSelector::Requirement> reqs;
    while (true) {
      Token t = peek(true);
      if (t.tok == Tok::kEnd) return reqs;
      if (t.tok != Tok::kIdent && t.tok != Tok::kBang) {
        return badRequest("found '" + t.lit + "', expected: !, identifier, or 'end of string'");
      }
      auto r = parseRequirement();
      if (!r.isOk()) return badRequest("unable to parse requirement: " + r.status().message());
      reqs.push_back(std::move(r).value());
      Token n = next(true);
      if (n.tok == Tok::kEnd) return reqs;
      if (n.tok != Tok::kComma) {
        return badRequest("found '" + n.lit + "', expected: ',' or 'end of string'");
      }
      Token a = peek(true);
      if (a.tok != Tok::kIdent && a.tok != Tok::kBang) {
        return badRequest("found '" + a.lit + "', expected: identifier after ','");
      }
    }
  }

 private:
  // In value context the keywords in/notin are plain identifiers.
  Token peek(bool values) const { return adjust(toks_[pos_], values); }
  Token next(bool values) {
    Token t = adjust(toks_[pos_], values);
    if (pos_ + 1 < toks_.size()) ++pos_;
    return t;
  }
  static Token adjust(Token t, bool values) {
    if (values && (t.tok == Tok::kIn || t.tok == Tok::kNotIn)) t.tok = Tok::kIdent;
    return t;
  }

  Result<LabelSelector::Requirement> parseRequirement() {
    using Op = LabelSelector::Op;
    LabelSelector::Requirement r;
    bool negated = false;
    Token t = next(true);
    if (t.tok == Tok::kBang) {
      negated = true;
      t = next(true);
    }
    if (t.tok != Tok::kIdent) return badRequest("found '" + t.lit + "', expected: identifier");
    if (auto msgs = validateLabelKey(t.lit); !msgs.empty()) {
      return badRequest(invalidError("<nil>", goQuote(t.lit), join(msgs, "; ")));
    }
    r.key = t.lit;
    Token a = peek(true);
    if (negated || a.tok == Tok::kEnd || a.tok == Tok::kComma) {
      // "!key" must be followed by the end or a comma; anything else is a missing operator
      // upstream too (it then fails in the parse loop).
      r.op = negated ? Op::kDoesNotExist : Op::kExists;
      return finish(std::move(r));
    }
    Token op = next(false);
    switch (op.tok) {
      case Tok::kIn: r.op = Op::kIn; break;
      case Tok::kNotIn: r.op = Op::kNotIn; break;
      case Tok::kEq: r.op = Op::kEquals; break;
      case Tok::kDEq: r.op = Op::kDoubleEquals; break;
      case Tok::kNEq: r.op = Op::kNotEquals; break;
      case Tok::kGt: r.op = Op::kGt; break;
      case Tok::kLt: r.op = Op::kLt; break;
      default:
        return badRequest("found '" + op.lit + "', expected: in, notin, =, ==, !=, gt, lt");
    }
    if (r.op == Op::kIn || r.op == Op::kNotIn) {
      BERTH_ASSIGN_OR_RETURN(r.values, parseValues());
    } else {
      BERTH_ASSIGN_OR_RETURN(r.values, parseExactValue());
    }
    return finish(std::move(r));
  }

  static Result<LabelSelector::Requirement> finish(LabelSelector::Requirement r) {
    sortUnique(&r.values);
    auto errs = checkRequirement(r, "");
    if (!errs.empty()) return badRequest(aggregate(errs));
    return r;
  }

  Result<std::vector<std::string>> parseValues() {
    Token t = next(true);
    if (t.tok != Tok::kOpen) return badRequest("found '" + t.lit + "' expected: '('");
    Token a = peek(true);
    if (a.tok == Tok::kClose) {
      next(true);
      return std::vector<std::string>{""};
    }
    if (a.tok != Tok::kIdent && a.tok != Tok::kComma) {
      return badRequest("found '" + a.lit + "', expected: ',', ')' or identifier");
    }
    std::vector<std::string> vals;
    // A list of possibly empty identifiers separated by commas.
    bool expect_value = true;
    while (true) {
      Token v = next(true);
      if (v.tok == Tok::kIdent) {
        if (!expect_value) return badRequest("found '" + v.lit + "', expected: ',' or ')'");
        vals.push_back(v.lit);
        expect_value = false;
        Token n = peek(true);
        if (n.tok == Tok::kClose) {
          next(true);
          return vals;
        }
        if (n.tok != Tok::kComma) return badRequest("found '" + n.lit + "', expected: ',' or ')'");
      } else if (v.tok == Tok::kComma) {
        if (expect_value) vals.push_back("");  // an empty value before this comma
        expect_value = true;
        if (peek(true).tok == Tok::kClose) {
          vals.push_back("");
          next(true);
          return vals;
        }
      } else {
        return badRequest("found '" + v.lit + "', expected: ',', or identifier");
      }
    }
  }

  Result<std::vector<std::string>> parseExactValue() {
    Token a = peek(true);
    if (a.tok == Tok::kEnd || a.tok == Tok::kComma) return std::vector<std::string>{""};
    Token t = next(true);
    if (t.tok == Tok::kIdent) return std::vector<std::string>{t.lit};
    return badRequest("found '" + t.lit + "', expected: identifier");
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
};

std::optional<std::string> labelValue(const nlohmann::json& labels, const std::string& key) {
  if (!labels.is_object()) return std::nullopt;
  auto it = labels.find(key);
  if (it == labels.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

}  // namespace

std::vector<std::string> validateDns1123Subdomain(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 253) errs.push_back(maxLenError(253));
  if (!isDns1123Subdomain(value)) {
    errs.push_back(regexError(kDns1123SubdomainErrMsg, kDns1123SubdomainFmt, {"example.com"}));
  }
  return errs;
}

std::vector<std::string> validateLabelKey(std::string_view key) {
  std::vector<std::string> errs;
  std::string_view name = key;
  size_t slash = key.find('/');
  if (slash != std::string_view::npos) {
    if (key.find('/', slash + 1) != std::string_view::npos) {
      errs.push_back("a qualified name " +
                     regexError(kQualifiedNameErrMsg, kQualifiedNameFmt,
                                {"MyName", "my.name", "123-abc", "example.com/MyName"}) +
                     " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
      return errs;
    }
    std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (prefix.empty()) {
      errs.push_back("prefix part must be non-empty");
    } else {
      for (const auto& m : validateDns1123Subdomain(prefix)) errs.push_back("prefix part " + m);
    }
  }
  if (name.empty()) {
    errs.push_back("name part must be non-empty");
  } else if (name.size() > 63) {
    errs.push_back("name part " + maxLenError(63));
  }
  if (!isQualifiedNamePart(name)) {
    errs.push_back("name part " + regexError(kQualifiedNameErrMsg, kQualifiedNameFmt,
                                             {"MyName", "my.name", "123-abc"}));
  }
  return errs;
}

std::vector<std::string> validateLabelValue(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 63) errs.push_back(maxLenError(63));
  if (!value.empty() && !isQualifiedNamePart(value)) {
    errs.push_back(regexError(kLabelValueErrMsg, kLabelValueFmt, {"MyValue", "my_value", "12345"}));
  }
  return errs;
}

// ---- LabelSelector ----------------------------------------------------------------------------

bool LabelSelector::Requirement::matches(const nlohmann::json& labels) const {
  auto v = labelValue(labels, key);
  auto has = [&](const std::string& x) {
    return std::binary_search(values.begin(), values.end(), x);
  };
  switch (op) {
    case Op::kEquals:
    case Op::kDoubleEquals:
    case Op::kIn:
      return v && has(*v);
    case Op::kNotEquals:
    case Op::kNotIn:
      return !v || !has(*v);
    case Op::kExists:
      return v.has_value();
    case Op::kDoesNotExist:
      return !v.has_value();
    case Op::kGt:
    case Op::kLt: {
      if (!v || values.size() != 1) return false;
      char* end = nullptr;
      errno = 0;
      long long have = std::strtoll(v->c_str(), &end, 10);
      if (v->empty() || *end != '\0' || errno != 0) return false;
      long long want = std::strtoll(values[0].c_str(), nullptr, 10);
      return op == Op::kGt ? have > want : have < want;
    }
  }
  return false;
}

std::string LabelSelector::Requirement::toString() const {
  std::string s;
  if (op == Op::kDoesNotExist) s += "!";
  s += key;
  switch (op) {
    case Op::kExists:
    case Op::kDoesNotExist:
      return s;
    case Op::kIn:
    case Op::kNotIn:
      return s + " " + opString(op) + " (" + join(values, ",") + ")";
    default:
      return s + opString(op) + join(values, ",");
  }
}

LabelSelector LabelSelector::nothing() {
  LabelSelector s;
  s.nothing_ = true;
  return s;
}

Result<LabelSelector> LabelSelector::parse(std::string_view text) {
  Parser p(lex(text));
  BERTH_ASSIGN_OR_RETURN(auto reqs, p.parse());
  std::stable_sort(reqs.begin(), reqs.end(),
                   [](const Requirement& a, const Requirement& b) { return a.key < b.key; });
  LabelSelector s;
  s.reqs_ = std::move(reqs);
  return s;
}

Result<LabelSelector> LabelSelector::fromObject(const nlohmann::json& obj) {
  if (obj.is_null()) return nothing();
  if (!obj.is_object()) return invalid("label selector must be an object");
  LabelSelector s;
  auto ml = obj.find("matchLabels");
  if (ml != obj.end() && !ml->is_null()) {
    if (!ml->is_object()) return invalid("matchLabels must be an object");
    // nlohmann objects iterate in key order, matching upstream's sorted result.
    for (const auto& [k, v] : ml->items()) {
      if (!v.is_string()) return invalid("matchLabels." + k + ": value must be a string");
      Requirement r{k, Op::kEquals, {v.get<std::string>()}};
      auto errs = checkRequirement(r, "");
      if (!errs.empty()) return invalid(aggregate(errs));
      s.reqs_.push_back(std::move(r));
    }
  }
  auto me = obj.find("matchExpressions");
  if (me != obj.end() && !me->is_null()) {
    if (!me->is_array()) return invalid("matchExpressions must be a list");
    for (const auto& e : *me) {
      if (!e.is_object()) return invalid("matchExpressions items must be objects");
      Requirement r;
      r.key = internal::stringField(e, "key");
      std::string op = internal::stringField(e, "operator");
      if (op == "In") r.op = Op::kIn;
      else if (op == "NotIn") r.op = Op::kNotIn;
      else if (op == "Exists") r.op = Op::kExists;
      else if (op == "DoesNotExist") r.op = Op::kDoesNotExist;
      else return invalid(goQuote(op) + " is not a valid label selector operator");
      if (auto vit = e.find("values"); vit != e.end() && !vit->is_null()) {
        if (!vit->is_array()) return invalid("matchExpressions values must be a list");
        for (const auto& v : *vit) {
          if (!v.is_string()) return invalid("matchExpressions values must be strings");
          r.values.push_back(v.get<std::string>());
        }
      }
      auto errs = checkRequirement(r, "");
      if (!errs.empty()) return invalid(aggregate(errs));
      sortUnique(&r.values);
      s.reqs_.push_back(std::move(r));
    }
  }
  std::stable_sort(s.reqs_.begin(), s.reqs_.end(),
                   [](const Requirement& a, const Requirement& b) { return a.key < b.key; });
  return s;
}

bool LabelSelector::matches(const nlohmann::json& labels) const {
  if (nothing_) return false;
  for (const auto& r : reqs_) {
    if (!r.matches(labels)) return false;
  }
  return true;
}

std::string LabelSelector::toString() const {
  std::vector<std::string> parts;
  for (const auto& r : reqs_) parts.push_back(r.toString());
  return join(parts, ",");
}

// ---- FieldSelector ----------------------------------------------------------------------------

namespace {

// Splits on commas not escaped by a backslash; the escapes stay in the terms.
std::vector<std::string> splitTerms(std::string_view s) {
  std::vector<std::string> terms;
  if (s.empty()) return terms;
  size_t start = 0;
  bool in_slash = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (in_slash) {
      in_slash = false;
    } else if (s[i] == '\\') {
      in_slash = true;
    } else if (s[i] == ',') {
      terms.emplace_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  terms.emplace_back(s.substr(start));
  return terms;
}

Result<std::string> unescapeValue(std::string_view s) {
  std::string out;
  bool in_slash = false;
  for (char c : s) {
    if (in_slash) {
      if (c != '\\' && c != ',' && c != '=') {
        return badRequest(std::string("invalid field selector: invalid escape sequence: \\") + c);
      }
      out += c;
      in_slash = false;
      continue;
    }
    if (c == '\\') {
      in_slash = true;
    } else if (c == ',' || c == '=') {
      // Upstream prints the rune's code point here.
      return badRequest("invalid field selector: unescaped character in value: " +
                        std::to_string(static_cast<int>(c)));
    } else {
      out += c;
    }
  }
  if (in_slash) return badRequest("invalid field selector: invalid escape sequence: \\");
  return out;
}

std::string escapeValue(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == ',' || c == '=') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

Result<FieldSelector> FieldSelector::parse(std::string_view text) {
  FieldSelector fs;
  std::vector<std::string> terms = splitTerms(text);
  std::sort(terms.begin(), terms.end());
  for (const auto& term : terms) {
    if (term.empty()) continue;
    // The first operator occurrence splits the term; "!=" and "==" before "=".
    std::optional<Requirement> req;
    for (size_t i = 0; i < term.size() && !req; ++i) {
      std::string_view rest = std::string_view(term).substr(i);
      Op op;
      size_t len;
      if (startsWith(rest, "!=")) {
        op = Op::kNotEquals;
        len = 2;
      } else if (startsWith(rest, "==")) {
        op = Op::kDoubleEquals;
        len = 2;
      } else if (startsWith(rest, "=")) {
        op = Op::kEquals;
        len = 1;
      } else {
        continue;
      }
      BERTH_ASSIGN_OR_RETURN(std::string value, unescapeValue(rest.substr(len)));
      req = Requirement{term.substr(0, i), op, std::move(value)};
    }
    if (!req) {
      return badRequest("invalid selector: '" + std::string(text) + "'; can't understand '" +
                        term + "'");
    }
    fs.reqs_.push_back(std::move(*req));
  }
  return fs;
}

bool FieldSelector::matches(
    const std::function<std::optional<std::string>(const std::string&)>& get) const {
  for (const auto& r : reqs_) {
    std::string v = get(r.field).value_or("");
    bool eq = v == r.value;
    if ((r.op == Op::kNotEquals) == eq) return false;
  }
  return true;
}

std::optional<std::string> FieldSelector::requiresExactMatch(const std::string& field) const {
  for (const auto& r : reqs_) {
    if (r.field == field && r.op != Op::kNotEquals) return r.value;
  }
  return std::nullopt;
}

std::string FieldSelector::toString() const {
  std::vector<std::string> parts;
  for (const auto& r : reqs_) {
    const char* op = r.op == Op::kNotEquals ? "!=" : (r.op == Op::kDoubleEquals ? "==" : "=");
    parts.push_back(r.field + op + escapeValue(r.value));
  }
  return join(parts, ",");
}

}  // namespace berth::apiserver::patch

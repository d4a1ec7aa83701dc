#include "apiserver/streaming/channel.h"

#include <nlohmann/json.hpp>

#include "apiserver/http/websocket.h"
#include "common/strings.h"

namespace berth::streaming::channel {

using json = nlohmann::json;

std::string negotiate(std::string_view offered, const std::vector<std::string_view>& supported) {
  std::vector<std::string> offers;
  for (const auto& o : split(offered, ',')) offers.emplace_back(trim(o));
  for (std::string_view want : supported) {
    for (const auto& o : offers)
      if (o == want) return std::string(want);
  }
  return "";
}

std::string frame(uint8_t id, std::string_view data) {
  std::string payload;
  payload.reserve(data.size() + 1);
  payload.push_back(static_cast<char>(id));
  payload.append(data);
  return http::ws::encodeFrame(http::ws::Opcode::kBinary, payload);
}

std::string exitStatus(int exit_code) {
  if (exit_code == 0) return json{{"metadata", json::object()}, {"status", "Success"}}.dump();
  json status = {
      {"metadata", json::object()},
      {"status", "Failure"},
      {"message", "command terminated with non-zero exit code: error executing command, exit "
                  "status " + std::to_string(exit_code)},
      {"reason", "NonZeroExitCode"},
      {"details",
       {{"causes", {{{"reason", "ExitCode"}, {"message", std::to_string(exit_code)}}}}}}};
  return status.dump();
}

std::string failureStatus(std::string_view message) {
  return json{{"metadata", json::object()},
              {"status", "Failure"},
              {"message", std::string(message)},
              {"reason", "InternalError"},
              {"code", 500}}
      .dump();
}

bool parseResize(std::string_view json_text, TerminalSize* out) {
  json j = json::parse(json_text, nullptr, false);
  if (!j.is_object()) return false;
  auto dim = [&](const char* key, uint16_t* v) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_unsigned() || it->get<uint64_t>() > 0xFFFF) return false;
    *v = static_cast<uint16_t>(it->get<uint64_t>());
    return true;
  };
  return dim("Width", &out->width) && dim("Height", &out->height);
}

}  // namespace berth::streaming::channel

#include "kubelet-lite/network/ipam.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace berth::kubelet::net {

using json = nlohmann::json;

Result<std::unique_ptr<Ipam>> Ipam::open(const std::string& cidr, const std::string& state_file) {
  BERTH_ASSIGN_OR_RETURN(Ipv4Cidr c, Ipv4Cidr::parse(cidr));
  if (c.prefix > 30) return invalid("pod CIDR " + cidr + " is too small (at most /30)");
  std::unique_ptr<Ipam> ipam(new Ipam(c, state_file));
  BERTH_RETURN_IF_ERROR(ipam->load());
  return ipam;
}

Status Ipam::load() {
  std::ifstream in(file_);
  if (!in) return Status::ok();
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return internalError("IPAM state " + file_ + " is not valid JSON");
  if (j.value("cidr", "") != cidr_.toString()) return Status::ok();
  std::lock_guard<std::mutex> l(mu_);
  const json allocs = j.value("allocations", json::object());
  for (const auto& [owner, ip] : allocs.items()) {
    if (!ip.is_string()) continue;
    auto a = parseIpv4(ip.get<std::string>());
    if (!a.isOk() || !cidr_.contains(*a)) continue;
    by_ip_[*a] = owner;
    by_owner_[owner] = *a;
  }
  if (j.contains("last") && j["last"].is_string()) {
    auto a = parseIpv4(j["last"].get<std::string>());
    if (a.isOk() && cidr_.contains(*a)) last_ = *a;
  }
  return Status::ok();
}

Status Ipam::saveLocked() const {
  json allocs = json::object();
  for (const auto& [owner, ip] : by_owner_) allocs[owner] = formatIpv4(ip);
  json j = {{"cidr", cidr_.toString()}, {"allocations", allocs},
            {"last", last_ ? formatIpv4(last_) : ""}};
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(file_).parent_path(), ec);
  std::string tmp = file_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(1);
    if (!out) return internalError("writing " + tmp);
  }
  if (std::rename(tmp.c_str(), file_.c_str()) != 0)
    return internalError("renaming " + tmp + ": " + std::strerror(errno));
  return Status::ok();
}

Result<uint32_t> Ipam::allocate(const std::string& owner) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_owner_.find(owner);
  if (it != by_owner_.end()) return it->second;
  // Usable: .2 .. broadcast-1 (.1 is the gateway).
  uint64_t first = 2, last = cidr_.size() - 2;
  uint64_t n = last - first + 1;
  uint64_t start = last_ && cidr_.contains(last_) ? (last_ - cidr_.network) + 1 : first;
  for (uint64_t k = 0; k < n; ++k) {
    uint64_t off = first + ((start - first + k) % n);
    uint32_t ip = cidr_.at(off);
    if (by_ip_.count(ip)) continue;
    by_ip_[ip] = owner;
    by_owner_[owner] = ip;
    last_ = ip;
    Status st = saveLocked();
    if (!st.isOk()) {
      by_ip_.erase(ip);
      by_owner_.erase(owner);
      return st;
    }
    return ip;
  }
  return Status(Code::kUnavailable, "no free address left in pod CIDR " + cidr_.toString());
}

Status Ipam::release(const std::string& owner) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_owner_.find(owner);
  if (it == by_owner_.end()) return Status::ok();
  by_ip_.erase(it->second);
  by_owner_.erase(it);
  return saveLocked();
}

Status Ipam::retainOnly(const std::set<std::string>& keep) {
  std::lock_guard<std::mutex> l(mu_);
  bool changed = false;
  for (auto it = by_owner_.begin(); it != by_owner_.end();) {
    if (keep.count(it->first)) {
      ++it;
      continue;
    }
    by_ip_.erase(it->second);
    it = by_owner_.erase(it);
    changed = true;
  }
  return changed ? saveLocked() : Status::ok();
}

std::map<std::string, uint32_t> Ipam::allocations() const {
  std::lock_guard<std::mutex> l(mu_);
  return by_owner_;
}

}  // namespace berth::kubelet::net

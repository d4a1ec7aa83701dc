#include "nodegroups/catalogue/catalogue.h"

#include <algorithm>
#include <set>

#include "common/strings.h"

namespace berth::nodegroups {

namespace {

// A family whose sizes share ENI limits by size and whose prices scale with the size.
struct Size {
  const char* suffix;
  int vcpu;
  int enis;
  int ips;
};

void addFamily(std::vector<InstanceTypeInfo>& out, const std::string& family,
               int64_t mib_per_vcpu, double od_per_vcpu, double spot_ratio,
               const std::vector<Size>& sizes) {
  for (const Size& s : sizes) {
    InstanceTypeInfo t;
    t.name = family + "." + s.suffix;
    t.vcpu = s.vcpu;
    t.memory_mib = mib_per_vcpu * s.vcpu;
    t.max_enis = s.enis;
    t.ipv4_per_eni = s.ips;
    t.on_demand_price = od_per_vcpu * s.vcpu;
    t.spot_price = t.on_demand_price * spot_ratio;
    out.push_back(std::move(t));
  }
}

std::vector<InstanceTypeInfo> buildCatalogue() {
  std::vector<InstanceTypeInfo> out;
  // Burstable: memory is not proportional to vCPUs, so each size is spelt out.
  struct Burst {
    const char* name;
    int vcpu;
    int64_t mib;
    int enis;
    int ips;
    double od;
    double spot;
  };
  for (const Burst& b : std::vector<Burst>{{"t3.micro", 2, 1024, 2, 2, 0.0104, 0.0035},
                                           {"t3.small", 2, 2048, 3, 4, 0.0208, 0.0068},
                                           {"t3.medium", 2, 4096, 3, 6, 0.0416, 0.0139},
                                           {"t3.large", 2, 8192, 3, 12, 0.0832, 0.0301},
                                           {"t3.xlarge", 4, 16384, 4, 15, 0.1664, 0.0592}}) {
    out.push_back({b.name, b.vcpu, b.mib, b.enis, b.ips, b.od, b.spot});
  }
  const std::vector<Size> general = {
      {"large", 2, 3, 10}, {"xlarge", 4, 4, 15}, {"2xlarge", 8, 4, 15}, {"4xlarge", 16, 8, 30}};
  // Spot ratios differ per family so that allocation strategies have something to choose.
  addFamily(out, "m5", 4096, 0.048, 0.38, general);
  addFamily(out, "m5a", 4096, 0.043, 0.42, general);
  addFamily(out, "m6i", 4096, 0.048, 0.35, general);
  addFamily(out, "c5", 2048, 0.0425, 0.40, general);
  addFamily(out, "c5a", 2048, 0.0385, 0.43, general);
  addFamily(out, "c6i", 2048, 0.0425, 0.36, general);
  addFamily(out, "c6a", 2048, 0.03825, 0.41, general);
  addFamily(out, "r5", 8192, 0.063, 0.33, general);
  return out;
}

}  // namespace

const std::vector<InstanceTypeInfo>& instanceTypeCatalogue() {
  static const std::vector<InstanceTypeInfo> kTable = buildCatalogue();
  return kTable;
}

const InstanceTypeInfo* findInstanceType(std::string_view name) {
  for (const InstanceTypeInfo& t : instanceTypeCatalogue()) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

namespace {

// Levenshtein distance (names are short).
size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::vector<std::string> nearbyInstanceTypes(std::string_view name, size_t n) {
  std::vector<std::pair<size_t, std::string>> scored;
  for (const InstanceTypeInfo& t : instanceTypeCatalogue()) scored.push_back({editDistance(name, t.name), t.name});
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (size_t i = 0; i < scored.size() && i < n; ++i) out.push_back(scored[i].second);
  return out;
}

Result<InstanceTypeInfo> lookupInstanceType(std::string_view name) {
  if (const InstanceTypeInfo* t = findInstanceType(name)) return *t;
  std::set<std::string> families;
  for (const InstanceTypeInfo& t : instanceTypeCatalogue()) families.insert(t.family());
  return invalid("unknown instance type \"" + std::string(name) + "\" (nearest: " +
                 join(nearbyInstanceTypes(name), ", ") + "; the catalogue has the " +
                 join(std::vector<std::string>(families.begin(), families.end()), ", ") +
                 " families)");
}

}  // namespace berth::nodegroups

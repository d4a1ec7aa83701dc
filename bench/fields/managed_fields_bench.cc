// managed_fields_bench: the managedFields a create records, for the api benchmarks' pod after
// defaulting, on the real Pod schema. Side by side: the create walk (recordUpdate without an
// old object, FieldsV1 written directly) and the general comparison every update takes,
// against an empty object (a FieldSet built, then converted). Both give the same entry (the
// patch unit tests check that on thousands of random objects). Prints the machine and µs per
// create, best of five rounds. Not a test: nothing is asserted.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "apiserver/kinds/kind_util.h"
#include "apiserver/patch/apply.h"
#include "apiserver/schema/schema.h"
#include "bench/common/bench_pod.h"
#include "bench/common/bench_util.h"

namespace {

using berth::apiserver::patch::recordUpdate;
using nlohmann::json;

template <typename Record>
double usPerCreate(const json& pod, Record record) {
  constexpr int kObjects = 5000;
  double best = 1e30;
  for (int round = 0; round < 5; ++round) {
    std::vector<json> objs(kObjects, pod);
    auto t0 = std::chrono::steady_clock::now();
    for (auto& o : objs) record(&o);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, s);
  }
  return best * 1e6 / kObjects;
}

}  // namespace

int main() {
  std::printf("managed_fields_bench: machine %s, %u cores, %ld MiB\n",
              berth::bench::cpuModel().c_str(), std::thread::hardware_concurrency(),
              berth::bench::memTotalMiB());
  auto type = berth::apiserver::schema::Registry::get().forKind({"", "v1", "Pod"});
  if (!type) {
    std::printf("no Pod schema\n");
    return 1;
  }
  json pod = berth::bench::podTemplate("bench");
  berth::apiserver::kinds::defaultPodSpec(pod["spec"]);
  const std::string now = "2026-11-29T01:00:00Z";
  json a = pod, b = pod;
  const json empty = json::object();
  recordUpdate(&a, nullptr, "api_bench", now, "v1", type.get());
  recordUpdate(&b, &empty, "api_bench", now, "v1", type.get());
  std::printf("pod after defaulting %zu B; managedFields %zu B; both paths %s\n", pod.dump().size(),
              a["metadata"]["managedFields"].dump().size(),
              a == b ? "give the same entry" : "DIFFER");
  double walk = usPerCreate(
      pod, [&](json* o) { recordUpdate(o, nullptr, "api_bench", now, "v1", type.get()); });
  double general = usPerCreate(
      pod, [&](json* o) { recordUpdate(o, &empty, "api_bench", now, "v1", type.get()); });
  std::printf(
      "managedFields of a create: create walk %.2f us | general comparison %.2f us | %.2fx\n", walk,
      general, general / walk);
  return a == b ? 0 : 1;
}

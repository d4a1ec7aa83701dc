#include <nlohmann/json.hpp>

#include "apiserver/kinds/kind_spec.h"
#include "apiserver/kinds/kind_util.h"

namespace berth::apiserver {

const KindRegistry& KindRegistry::builtin() {
  static const KindRegistry* reg = [] {
    auto* r = new KindRegistry();
    kinds::registerCoreKinds(*r);
    kinds::registerAppsKinds(*r);
    kinds::registerBatchKinds(*r);
    kinds::registerMiscKinds(*r);
    kinds::registerBerthKinds(*r);
    kinds::registerNetworkKinds(*r);
    kinds::registerRbacKinds(*r);
    kinds::registerLimitKinds(*r);
    return r;
  }();
  return *reg;
}

void KindRegistry::add(KindSpec spec) { kinds_.push_back(std::move(spec)); }

const KindSpec* KindRegistry::byResource(const std::string& group, const std::string& version,
                                         const std::string& resource) const {
  for (const auto& k : kinds_) {
    if (k.group == group && k.version == version && k.resource == resource) return &k;
  }
  return nullptr;
}

const KindSpec* KindRegistry::byKind(const std::string& group, const std::string& version,
                                     const std::string& kind) const {
  for (const auto& k : kinds_) {
    if (k.group == group && k.version == version && k.kind == kind) return &k;
  }
  return nullptr;
}

}  // namespace berth::apiserver

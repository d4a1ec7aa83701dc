#include "apiserver/storage/store.h"

#include "common/strings.h"

namespace berth::storage {

Result<std::unique_ptr<Store>> openStore(const std::string& endpoint) {
  constexpr std::string_view kSqlite = "sqlite://";
  constexpr std::string_view kEtcd = "etcd://";
  if (startsWith(endpoint, kSqlite)) {
    SqliteOptions options;
    options.path = endpoint.substr(kSqlite.size());
    if (options.path.empty()) return badRequest("storage endpoint \"" + endpoint + "\": empty path");
    return openSqliteStore(options);
  }
  if (startsWith(endpoint, kEtcd)) {
    return Status(Code::kUnavailable, "etcd backend not built yet: " + endpoint);
  }
  return badRequest("unsupported storage endpoint \"" + endpoint +
                    "\" (want sqlite://PATH or etcd://HOST:PORT,...)");
}

}  // namespace berth::storage

// createBootstrapToken: kept apart from token.cc so that what uses only the token checks (the
// API server) does not pull in the client.
#include "client/client.h"
#include "nodegroups/bootstrap/token.h"

namespace berth::nodegroups::bootstrap {

Result<BootstrapToken> createBootstrapToken(client::Client& client, const TokenOptions& opts,
                                            const Clock& clock) {
  static const client::Resource kSecrets{"", "v1", "secrets", "Secret", true, {}};
  // An id collision with a live token is possible in principle; try a few fresh ones.
  for (int attempt = 0; attempt < 3; ++attempt) {
    BERTH_ASSIGN_OR_RETURN(BootstrapToken token, generateBootstrapToken());
    BERTH_ASSIGN_OR_RETURN(json secret, bootstrapTokenSecret(token, opts, clock.now()));
    auto created = client.create(kSecrets, "kube-system", secret);
    if (created.isOk()) return token;
    if (created.status().code() != Code::kAlreadyExists)
      return created.status().withContext("creating bootstrap token secret");
  }
  return internalError("could not pick an unused bootstrap token id");
}

}  // namespace berth::nodegroups::bootstrap

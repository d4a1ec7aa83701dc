// Discovery: the resources an API server serves, read from legacy discovery (/api/v1, /apis,
// /apis/GROUP/VERSION at each group's preferred version). Subresources are left out.
// Thread-safety: pure function over a Client.
#pragma once

#include <vector>

#include "client/client.h"

namespace berth::client {

Result<std::vector<Resource>> discoverResources(Client* client);

// Keeps the resources that have every verb in `verbs`.
std::vector<Resource> withVerbs(const std::vector<Resource>& all, const std::vector<std::string>& verbs);

}  // namespace berth::client

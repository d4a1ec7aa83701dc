// `berth net ...`: hidden commands that drive one cluster's LocalNetwork directly (tests,
// debugging) and run the internet namespace's echo server.
#pragma once

#include <string>
#include <vector>

namespace berth::cmd {

int runNet(const std::vector<std::string>& args);

}  // namespace berth::cmd

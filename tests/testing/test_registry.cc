#include "tests/testing/test_registry.h"

#include <stdlib.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>

namespace berth::testing {
namespace {

// Runs a shell command; returns its stdout, stderr into *err.
int runScript(const std::string& cmd, std::string* out, std::string* err, const std::string& dir) {
  std::string errfile = dir + "/script.err";
  FILE* p = ::popen((cmd + " 2>" + errfile).c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out->append(buf.data(), n);
  int rc = ::pclose(p);
  FILE* e = fopen(errfile.c_str(), "r");
  if (e) {
    while ((n = fread(buf.data(), 1, buf.size(), e)) > 0) err->append(buf.data(), n);
    fclose(e);
  }
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string script() {
  const char* s = ::getenv("BERTH_TEST_REGISTRY_SCRIPT");
  return s ? s : "scripts/test-registry.sh";
}

}  // namespace

TestRegistry::TestRegistry() {
  char tmpl[] = "/tmp/berth-registry-XXXXXX";
  if (!::mkdtemp(tmpl)) {
    error_ = "mkdtemp failed";
    return;
  }
  dir_ = tmpl;
  std::string out;
  int rc = runScript(script() + " start " + dir_, &out, &error_, dir_);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  if (rc == 0 && out.starts_with("127.0.0.1:")) address_ = out;
  else if (error_.empty()) error_ = "test-registry.sh exited " + std::to_string(rc) + ": " + out;
}

TestRegistry::~TestRegistry() {
  if (dir_.empty()) return;
  std::string out, err;
  runScript(script() + " stop " + dir_, &out, &err, dir_);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string TestRegistry::blobDataPath(const std::string& digest) const {
  std::string hex = digest.substr(digest.find(':') + 1);
  return dir_ + "/storage/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data";
}

}  // namespace berth::testing

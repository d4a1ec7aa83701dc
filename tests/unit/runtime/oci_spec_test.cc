#include "kubelet-lite/runtime/oci_spec.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace berth::kubelet::runc {
namespace {

using json = nlohmann::json;

TEST(ContainerArgs, KubeletRules) {
  images::ImageConfig img;
  img.entrypoint = {"/entry"};
  img.cmd = {"default"};
  ContainerConfig c;
  EXPECT_EQ(*containerArgs(c, img), (std::vector<std::string>{"/entry", "default"}));
  c.args = {"a"};
  EXPECT_EQ(*containerArgs(c, img), (std::vector<std::string>{"/entry", "a"}));
  c.command = {"/cmd"};
  EXPECT_EQ(*containerArgs(c, img), (std::vector<std::string>{"/cmd", "a"}));
  c.args.clear();
  EXPECT_EQ(*containerArgs(c, img), (std::vector<std::string>{"/cmd"})) << "command drops the image's Cmd";
  auto none = containerArgs(ContainerConfig{}, images::ImageConfig{});
  ASSERT_FALSE(none.isOk());
  EXPECT_NE(none.status().message().find("no command"), std::string::npos);
}

TEST(ContainerUser, ImageUserNamesAndRunAsUser) {
  char tmpl[] = "/tmp/berth-ocispec-XXXXXX";
  std::string root = ::mkdtemp(tmpl);
  std::filesystem::create_directories(root + "/etc");
  std::ofstream(root + "/etc/passwd") << "root:x:0:0::/:/bin/sh\napp:x:1000:1001::/:/bin/sh\n";
  std::ofstream(root + "/etc/group") << "root:x:0:\nstaff:x:50:\n";
  images::ImageConfig img;
  ContainerConfig c;
  EXPECT_EQ(*containerUser(c, img, root), std::make_pair(int64_t{0}, int64_t{0}));
  img.user = "app";
  EXPECT_EQ(*containerUser(c, img, root), std::make_pair(int64_t{1000}, int64_t{1001}));
  img.user = "app:staff";
  EXPECT_EQ(*containerUser(c, img, root), std::make_pair(int64_t{1000}, int64_t{50}));
  img.user = "123:456";
  EXPECT_EQ(*containerUser(c, img, root), std::make_pair(int64_t{123}, int64_t{456}));
  c.run_as_user = 2000;
  EXPECT_EQ(*containerUser(c, img, root), std::make_pair(int64_t{2000}, int64_t{0}));
  c.run_as_group = 3000;
  EXPECT_EQ(*containerUser(c, img, root), std::make_pair(int64_t{2000}, int64_t{3000}));
  img.user = "ghost";
  c.run_as_user.reset();
  auto bad = containerUser(c, img, root);
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("ghost"), std::string::npos);
  std::filesystem::remove_all(root);
}

TEST(OciSpec, NamespacesResourcesEnvAndMounts) {
  images::ImageConfig img;
  img.cmd = {"sh"};
  img.env = {"PATH=/bin", "A=image"};
  img.working_dir = "/srv";
  ContainerConfig c;
  c.name = "app";
  c.env = {{"A", "container"}, {"B", "b"}};
  c.memory_limit_bytes = 8 << 20;
  c.cpu_limit_millis = 250;
  c.cpu_request_millis = 100;
  c.mounts = {{"/host/data", "/data", true}};
  OciSpecInput in;
  in.container = &c;
  in.image = &img;
  in.rootfs = "/bundle/rootfs";
  in.hostname = "web";
  in.netns_path = "/run/netns/berth-x";
  in.cgroups_path = "/berth/podu/abc";
  auto spec = buildOciSpec(in);
  ASSERT_TRUE(spec.isOk()) << spec.status().toString();
  const json& s = *spec;
  EXPECT_EQ(s["process"]["args"], json({"sh"}));
  EXPECT_EQ(s["process"]["env"], json({"PATH=/bin", "A=container", "HOSTNAME=web", "B=b"}));
  EXPECT_EQ(s["process"]["cwd"], "/srv");
  EXPECT_EQ(s["hostname"], "web");
  EXPECT_EQ(s["root"]["path"], "/bundle/rootfs");
  EXPECT_EQ(s["linux"]["cgroupsPath"], "/berth/podu/abc");
  EXPECT_EQ(s["linux"]["resources"]["memory"]["limit"], 8 << 20);
  EXPECT_EQ(s["linux"]["resources"]["cpu"]["quota"], 25000);
  EXPECT_EQ(s["linux"]["resources"]["cpu"]["period"], 100000);
  EXPECT_EQ(s["linux"]["resources"]["cpu"]["shares"], 102);
  bool net = false;
  for (const json& ns : s["linux"]["namespaces"])
    if (ns["type"] == "network") {
      net = true;
      EXPECT_EQ(ns["path"], "/run/netns/berth-x");
    }
  EXPECT_TRUE(net);
  bool data = false;
  for (const json& m : s["mounts"])
    if (m["destination"] == "/data") {
      data = true;
      EXPECT_EQ(m["source"], "/host/data");
      EXPECT_NE(std::find(m["options"].begin(), m["options"].end(), "ro"), m["options"].end());
    }
  EXPECT_TRUE(data);
  // Host network: no network namespace entry at all (the host's is inherited).
  in.netns_path.clear();
  auto host = buildOciSpec(in);
  for (const json& ns : (*host)["linux"]["namespaces"]) EXPECT_NE(ns["type"], "network");
  c.working_dir = "relative";
  EXPECT_FALSE(buildOciSpec(in).isOk());
}

}  // namespace
}  // namespace berth::kubelet::runc

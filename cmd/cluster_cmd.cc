// berth cluster create|delete|get: an eksctl ClusterConfig brought up on this machine with the
// local cloud. Layout of a cluster's state (<state root>/<name>/):
//   cluster.yaml   the defaulted config       server/        `berth server --data-dir`
//   server.json    the server's pid and URL   server.log     its output
//   cloud/         the cloud state dir (network.json, cloud.json, instances/, faults.json)
//   kubeconfig     admin kubeconfig with a context named after the cluster
#include "cmd/cluster_cmd.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>
#include <thread>

#include "client/rest_client.h"
#include "common/mounts.h"
#include "common/strings.h"
#include "networking/local/local_network.h"
#include "networking/local/loopback_endpoint.h"
#include "networking/network_objects.h"
#include "networking/vpc_plan.h"
#include "nodegroups/cloud/local/local_cloud.h"
#include "nodegroups/cloud/local/local_instance_driver.h"
#include "nodegroups/cloud/local/local_state.h"
#include "nodegroups/cloud/local/process.h"
#include "nodegroups/config/cluster_config.h"

namespace berth::cmd {

namespace {

namespace fs = std::filesystem;
namespace local = cloud::local;
namespace cfg = nodegroups::config;
using nlohmann::json;

constexpr char kClusterUsage[] = R"(berth cluster: EKS-style clusters on this machine (root)

Usage:
  berth cluster create -f FILE [--node-runtime runc|simulated] [--dry-run] [--timeout DURATION]
                       [--registry-ports LIST]
      bring up the eksctl ClusterConfig in FILE: network, control plane, node groups, Fargate
      profiles; waits for the nodes (default 5m), writes a kubeconfig and makes a context
      named after the cluster current in ~/.kube/config ($KUBECONFIG's first file).
      Running it again changes nothing; after a failure it resumes.
      --registry-ports (default 5000; "" for none): registries listening on the host's
      loopback at these ports are reachable from the nodes through an endpoint in the VPC,
      so images named localhost:PORT/... or 127.0.0.1:PORT/... pull on every node.
  berth cluster delete NAME
      remove everything of the cluster: instances, control plane, network, kubeconfig context
  berth cluster get [NAME]
      list clusters: NAME REGION ZONES STATUS ENDPOINT NODEGROUPS

State lives under $BERTH_STATE_DIR/NAME (default /var/lib/berth/clusters/NAME).
)";

const client::Resource kNodeGroups{"berth.dev", "v1alpha1", "nodegroups", "NodeGroup", false};
const client::Resource kFargateProfiles{"berth.dev", "v1alpha1", "fargateprofiles", "FargateProfile", false};
const client::Resource kNodes{"", "v1", "nodes", "Node", false};

int usageError(const std::string& msg) {
  std::fprintf(stderr, "berth cluster: %s\n\n%s", msg.c_str(), kClusterUsage);
  return 2;
}

int fail(const Status& st) {
  std::fprintf(stderr, "Error: %s\n", st.message().c_str());
  return 1;
}

void step(const std::string& msg) {
  std::printf("%s\n", msg.c_str());
  std::fflush(stdout);
}

std::string serverDataDir(const std::string& cluster) { return local::clusterDir(cluster) + "/server"; }

// ---- kubeconfig ----

// The user's kubeconfig: $KUBECONFIG's first file, else ~/.kube/config (as kubectl).
std::string userKubeconfigPath() {
  const char* env = std::getenv("KUBECONFIG");
  if (env && *env) {
    std::string first = split(env, ':').front();
    if (!first.empty()) return first;
  }
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/root") + "/.kube/config";
}

// Removes entries named `name` from a kubeconfig list (clusters, users, contexts).
void dropNamed(YAML::Node& doc, const char* list, const std::string& name) {
  YAML::Node out(YAML::NodeType::Sequence);
  if (doc[list] && doc[list].IsSequence()) {
    for (const auto& e : doc[list]) {
      if (!(e["name"] && e["name"].as<std::string>() == name)) out.push_back(e);
    }
  }
  doc[list] = out;
}

Status writeYaml(const std::string& path, const YAML::Node& doc) {
  YAML::Emitter e;
  e << doc;
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  return local::writeFileAtomic(path, std::string(e.c_str()) + "\n", 0600);
}

// Writes <state>/kubeconfig for the cluster (cluster, user and context named after it) from the
// server's admin kubeconfig, and merges it into the user's kubeconfig as the current context.
Status writeKubeconfigs(const std::string& cluster, std::string* user_path) {
  try {
    YAML::Node admin = YAML::LoadFile(serverDataDir(cluster) + "/admin.kubeconfig");
    YAML::Node c = admin["clusters"][0]["cluster"];
    YAML::Node u = admin["users"][0]["user"];
    std::string user = cluster + "-admin";
    YAML::Node own;
    own["apiVersion"] = "v1";
    own["kind"] = "Config";
    YAML::Node ce, ue, xe;
    ce["name"] = cluster;
    ce["cluster"] = c;
    ue["name"] = user;
    ue["user"] = u;
    xe["name"] = cluster;
    xe["context"]["cluster"] = cluster;
    xe["context"]["user"] = user;
    own["clusters"].push_back(ce);
    own["users"].push_back(ue);
    own["contexts"].push_back(xe);
    own["current-context"] = cluster;
    BERTH_RETURN_IF_ERROR(writeYaml(local::clusterDir(cluster) + "/kubeconfig", own));

    *user_path = userKubeconfigPath();
    YAML::Node doc;
    if (fs::exists(*user_path)) doc = YAML::LoadFile(*user_path);
    if (!doc.IsMap()) doc = YAML::Node(YAML::NodeType::Map);
    if (!doc["apiVersion"]) doc["apiVersion"] = "v1";
    if (!doc["kind"]) doc["kind"] = "Config";
    dropNamed(doc, "clusters", cluster);
    dropNamed(doc, "users", user);
    dropNamed(doc, "contexts", cluster);
    doc["clusters"].push_back(ce);
    doc["users"].push_back(ue);
    doc["contexts"].push_back(xe);
    doc["current-context"] = cluster;
    return writeYaml(*user_path, doc);
  } catch (const YAML::Exception& e) {
    return internalError(std::string("kubeconfig: ") + e.what());
  }
}

// Removes the cluster's context (and its cluster and user) from the user's kubeconfig.
Status removeKubeconfigContext(const std::string& cluster) {
  std::string path = userKubeconfigPath();
  if (!fs::exists(path)) return Status::ok();
  try {
    YAML::Node doc = YAML::LoadFile(path);
    if (!doc.IsMap()) return Status::ok();
    dropNamed(doc, "clusters", cluster);
    dropNamed(doc, "users", cluster + "-admin");
    dropNamed(doc, "contexts", cluster);
    if (doc["current-context"] && doc["current-context"].as<std::string>() == cluster) {
      doc.remove("current-context");
    }
    return writeYaml(path, doc);
  } catch (const YAML::Exception& e) {
    return internalError(path + ": " + e.what());
  }
}

// ---- the control plane ----

struct ServerInfo {
  local::ProcessRef process;
  std::string url;
};

std::optional<ServerInfo> readServerInfo(const std::string& cluster) {
  auto j = local::readJsonFile(local::clusterDir(cluster) + "/server.json");
  if (!j.isOk()) return std::nullopt;
  ServerInfo s;
  s.process = {j->value("pid", 0), j->value("startTime", 0ULL)};
  s.url = j->value("url", "");
  return s;
}

std::string tail(const std::string& path, size_t lines) {
  auto text = local::readFile(path);
  if (!text.isOk()) return "";
  std::vector<std::string> all = split(*text, '\n');
  size_t from = all.size() > lines ? all.size() - lines : 0;
  std::vector<std::string> last(all.begin() + from, all.end());
  return join(last, "\n");
}

Result<std::unique_ptr<client::RestClient>> adminClient(const std::string& cluster) {
  return client::RestClient::fromKubeconfig(serverDataDir(cluster) + "/admin.kubeconfig");
}

// Starts `berth server` for the cluster unless it runs; waits for /readyz.
Result<ServerInfo> ensureServer(const std::string& cluster, const cloud::Vpc& vpc,
                                std::chrono::seconds timeout) {
  std::string dir = local::clusterDir(cluster);
  std::optional<ServerInfo> info = readServerInfo(cluster);
  if (!info || !local::processAlive(info->process)) {
    std::error_code ec;
    fs::create_directories(serverDataDir(cluster), ec);
    std::vector<std::string> argv = {local::selfExecutable(), "server",
                                     "--data-dir", serverDataDir(cluster),
                                     "--bind-address", vpc.control_plane_ip,
                                     "--secure-port", "6443",
                                     "--tls-san", vpc.control_plane_ip,
                                     "--cloud-provider", "local",
                                     "--cluster-name", cluster,
                                     "--cloud-state-dir", local::cloudDir(cluster)};
    BERTH_ASSIGN_OR_RETURN(local::ProcessRef p, local::spawnDetached(argv, dir + "/server.log"));
    info = ServerInfo{p, "https://" + vpc.control_plane_ip + ":6443"};
    BERTH_RETURN_IF_ERROR(local::writeJsonFile(
        dir + "/server.json",
        {{"pid", p.pid}, {"startTime", p.start_time}, {"url", info->url}}));
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (!local::processAlive(info->process)) {
      return internalError("berth server exited; the end of " + dir + "/server.log:\n" +
                           tail(dir + "/server.log", 15));
    }
    if (fs::exists(serverDataDir(cluster) + "/admin.kubeconfig")) {
      auto c = adminClient(cluster);
      if (c.isOk()) {
        // /readyz answers plain "ok"; /version is JSON, served once the server is up.
        auto r = (*c)->request("GET", "/version");
        if (r.isOk()) return *info;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status(Code::kTimeout, "the API server at " + info->url + " was not ready within " +
                                        humanDuration(timeout) + "; see " + dir + "/server.log");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// Creates the object unless it exists (an existing one is left as it is).
Result<bool> createIfAbsent(client::RestClient& c, const client::Resource& r, const json& obj) {
  auto res = c.create(r, "", obj);
  if (res.isOk()) return true;
  if (res.status().code() == Code::kAlreadyExists) return false;
  return res.status();
}

std::string bar(int done, int total) {
  const int width = 30;
  int fill = total > 0 ? done * width / total : width;
  return "[" + std::string(fill, '#') + std::string(width - fill, '.') + "] " +
         std::to_string(done) + "/" + std::to_string(total);
}

// Waits until `want` nodes of the cluster's groups are Ready, drawing a bar.
Status waitForNodes(client::RestClient& c, const cfg::ClusterConfig& config, int want,
                    std::chrono::seconds timeout) {
  std::set<std::string> groups;
  for (const auto& g : config.node_groups) groups.insert(g.name);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool tty = isatty(1);
  int last = -1;
  for (;;) {
    int ready = 0;
    auto nodes = c.list(kNodes, "");
    if (nodes.isOk()) {
      for (const json& n : nodes->value("items", json::array())) {
        std::string g = n["metadata"].value("labels", json::object()).value("eks.amazonaws.com/nodegroup", "");
        if (!groups.count(g)) continue;
        for (const json& cond : n.value("status", json::object()).value("conditions", json::array())) {
          if (cond.value("type", "") == "Ready" && cond.value("status", "") == "True") ++ready;
        }
      }
    }
    if (ready != last) {
      std::printf(tty ? "\r  nodes joining %s" : "  nodes joining %s\n", bar(std::min(ready, want), want).c_str());
      std::fflush(stdout);
      last = ready;
    }
    if (ready >= want) {
      if (tty) std::printf("\n");
      return Status::ok();
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      if (tty) std::printf("\n");
      return Status(Code::kTimeout,
                    "timed out after " + humanDuration(timeout) + " waiting for nodes: " +
                        std::to_string(ready) + "/" + std::to_string(want) +
                        " Ready (see `kubectl get nodegroups`, `berth cloud instances --cluster " +
                        config.name + "` and " + local::clusterDir(config.name) + "/server.log)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

// ---- create ----

struct CreateOptions {
  std::string file;
  std::string node_runtime = "runc";
  bool dry_run = false;
  std::chrono::seconds timeout{300};
  std::vector<int> registry_ports = {5000};
};

// Agent flags that send pulls of localhost:PORT/... images to the VPC endpoint of the host's
// loopback registry.
std::vector<std::string> registryMirrorArgs(const std::string& endpoint_ip, const std::vector<int>& ports) {
  std::vector<std::string> args;
  for (int port : ports) {
    std::string target = endpoint_ip + ":" + std::to_string(port);
    for (const char* host : {"localhost", "127.0.0.1"}) {
      args.push_back("--registry-mirror");
      args.push_back(std::string(host) + ":" + std::to_string(port) + "=" + target);
    }
    args.push_back("--insecure-registry");
    args.push_back(target);
  }
  return args;
}

Status create(const CreateOptions& o) {
  auto text = local::readFile(o.file);
  if (!text.isOk()) return notFound("cannot read " + o.file);
  BERTH_ASSIGN_OR_RETURN(cfg::ParsedClusterConfig parsed, cfg::parseClusterConfig(*text));
  for (const auto& w : parsed.warnings) std::fprintf(stderr, "Warning: %s\n", w.c_str());
  const cfg::ClusterConfig& c = parsed.config;
  BERTH_ASSIGN_OR_RETURN(cloud::NetworkSpec spec,
                         networking::planNetwork(c.name, c.region, c.zones, c.vpc));
  if (o.dry_run) {
    std::printf("%s", cfg::toYaml(c).c_str());
    return Status::ok();
  }
  if (geteuid() != 0) return Status(Code::kForbidden, "berth cluster create needs root (network namespaces)");
  BERTH_RETURN_IF_ERROR(networking::checkVpcCidrFree(c.name, spec.vpc_cidr));  // before anything is made
  std::string dir = local::clusterDir(c.name);
  std::error_code ec;
  fs::create_directories(local::cloudDir(c.name) + "/instances", ec);
  if (ec) return internalError("create " + dir + ": " + ec.message());
  BERTH_RETURN_IF_ERROR(local::writeFileAtomic(dir + "/cluster.yaml", cfg::toYaml(c)));
  local::LocalCloudConfig lc;
  lc.cluster = c.name;
  lc.region = c.region;
  lc.zones = c.zones;
  lc.node_runtime = o.node_runtime;
  BERTH_RETURN_IF_ERROR(local::writeJsonFile(local::cloudDir(c.name) + "/cloud.json", local::toJson(lc)));

  step("[1/5] network: VPC " + spec.vpc_cidr + " in " + join(c.zones, ", ") + ", NAT gateway " +
       cloud::toString(spec.nat));
  BERTH_ASSIGN_OR_RETURN(auto net, networking::LocalNetwork::open({c.name, local::cloudDir(c.name)}));
  BERTH_ASSIGN_OR_RETURN(cloud::Vpc vpc, net->ensureNetwork(spec));
  for (const auto& s : vpc.subnets) {
    step("  " + s.id + "  " + s.zone + "  " + (s.is_public ? "public " : "private") + "  " + s.cidr);
  }
  BERTH_RETURN_IF_ERROR(networking::ensureLoopbackEndpoints(c.name, vpc.control_plane_ip, o.registry_ports));
  if (!o.registry_ports.empty()) {
    std::vector<std::string> ports;
    for (int p : o.registry_ports) ports.push_back(std::to_string(p));
    step("  registry endpoint: localhost:{" + join(ports, ",") + "} at " + vpc.control_plane_ip);
    lc.agent_args = registryMirrorArgs(vpc.control_plane_ip, o.registry_ports);
    BERTH_RETURN_IF_ERROR(
        local::writeJsonFile(local::cloudDir(c.name) + "/cloud.json", local::toJson(lc)));
  }

  step("[2/5] control plane: berth server on " + vpc.control_plane_ip + ":6443");
  BERTH_ASSIGN_OR_RETURN(ServerInfo server, ensureServer(c.name, vpc, std::chrono::seconds(60)));
  step("  ready at " + server.url);
  BERTH_ASSIGN_OR_RETURN(auto client, adminClient(c.name));
  BERTH_RETURN_IF_ERROR(networking::publishNetwork(*client, vpc, spec).withContext("publishing the network objects"));
  step("  network objects published: kubectl get vpcs,subnets,natgateways");

  step("[3/5] node groups");
  int want = 0;
  for (const auto& g : c.node_groups) {
    BERTH_ASSIGN_OR_RETURN(bool made, createIfAbsent(*client, kNodeGroups, cfg::toNodeGroupObject(c, g)));
    step("  " + g.name + " (" + (g.managed ? "managed" : "self-managed") + ", " +
         std::to_string(g.desired) + " x " + join(g.instance_types, "|") + ", " +
         (g.spot ? "SPOT" : g.instances_distribution ? "mixed" : "ON_DEMAND") + ")" +
         (made ? " created" : " exists, unchanged"));
    want += g.desired;
  }
  step("[4/5] nodes");
  BERTH_RETURN_IF_ERROR(waitForNodes(*client, c, want, o.timeout));

  step("[5/5] fargate profiles");
  for (const auto& p : c.fargate_profiles) {
    BERTH_ASSIGN_OR_RETURN(bool made, createIfAbsent(*client, kFargateProfiles, cfg::toFargateProfileObject(c, p)));
    step("  " + p.name + (made ? " created" : " exists, unchanged"));
  }
  if (c.fargate_profiles.empty()) step("  none");

  std::string user_path;
  BERTH_RETURN_IF_ERROR(writeKubeconfigs(c.name, &user_path));
  step("kubeconfig: " + dir + "/kubeconfig; context \"" + c.name + "\" is current in " + user_path);
  step("cluster \"" + c.name + "\" is ready: kubectl get nodes");
  return Status::ok();
}

// ---- delete ----

Status remove(const std::string& name) {
  std::string dir = local::clusterDir(name);
  if (!fs::exists(dir)) return notFound("no cluster \"" + name + "\" (nothing under " + dir + ")");
  if (geteuid() != 0) return Status(Code::kForbidden, "berth cluster delete needs root");
  std::optional<ServerInfo> server = readServerInfo(name);
  if (server && local::processAlive(server->process)) {
    step("[1/4] node groups and Fargate profiles");
    auto c = adminClient(name);
    if (c.isOk()) {
      (void)(*c)->removeCollection(kFargateProfiles, "");
      (void)(*c)->removeCollection(kNodeGroups, "");
    }
    step("[2/4] control plane: stopping berth server (pid " + std::to_string(server->process.pid) + ")");
    local::stopProcess(server->process, 15000);
  } else {
    step("[1/4] node groups: the control plane is not running");
    step("[2/4] control plane: not running");
  }
  step("[3/4] instances");
  auto cloud = local::openLocalCloud(name, local::cloudDir(name));
  if (!cloud.isOk()) return cloud.status();
  for (const cloud::Instance& i : local::peekInstances(local::cloudDir(name))) {
    Status st = (*cloud)->instances().terminateInstance(i.id);
    if (!st.isOk()) return st.withContext("terminating " + i.id);
    step("  " + i.id + " terminated");
  }
  BERTH_RETURN_IF_ERROR((*cloud)->instances().describeInstances({}).status());
  step("[4/4] network");
  BERTH_RETURN_IF_ERROR((*cloud)->network().deleteNetwork());
  BERTH_RETURN_IF_ERROR(networking::deleteLoopbackEndpoints(name));
  cloud->reset();
  BERTH_RETURN_IF_ERROR(removeKubeconfigContext(name));
  BERTH_RETURN_IF_ERROR(unmountUnder(dir));  // what a killed agent's teardown left mounted
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return internalError("remove " + dir + ": " + ec.message());
  step("cluster \"" + name + "\" deleted");
  return Status::ok();
}

// ---- get ----

int get(const std::string& only) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(local::stateRoot(), ec)) {
    if (fs::exists(e.path() / "cluster.yaml")) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  if (!only.empty()) {
    if (std::find(names.begin(), names.end(), only) == names.end()) {
      std::fprintf(stderr, "Error: no cluster \"%s\"\n", only.c_str());
      return 1;
    }
    names = {only};
  }
  if (names.empty()) {
    std::printf("No clusters found.\n");
    return 0;
  }
  std::printf("%-20s %-10s %-30s %-8s %-28s %s\n", "NAME", "REGION", "ZONES", "STATUS", "ENDPOINT",
              "NODEGROUPS");
  for (const auto& n : names) {
    auto text = local::readFile(local::clusterDir(n) + "/cluster.yaml");
    auto parsed = text.isOk() ? cfg::parseClusterConfig(*text)
                              : Result<cfg::ParsedClusterConfig>(text.status());
    std::string region = "-", zones = "-", groups = "-";
    if (parsed.isOk()) {
      region = parsed->config.region;
      zones = join(parsed->config.zones, ",");
      std::vector<std::string> g;
      for (const auto& ng : parsed->config.node_groups) g.push_back(ng.name);
      if (!g.empty()) groups = join(g, ",");
    }
    std::optional<ServerInfo> server = readServerInfo(n);
    bool up = server && local::processAlive(server->process);
    std::printf("%-20s %-10s %-30s %-8s %-28s %s\n", n.c_str(), region.c_str(), zones.c_str(),
                up ? "ACTIVE" : "STOPPED", server ? server->url.c_str() : "-", groups.c_str());
  }
  return 0;
}

}  // namespace

int runCluster(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    std::fputs(kClusterUsage, stdout);
    return args.empty() ? 2 : 0;
  }
  const std::string& verb = args[0];
  if (verb == "create") {
    CreateOptions o;
    for (size_t i = 1; i < args.size(); ++i) {
      const std::string& a = args[i];
      auto next = [&](std::string* out) {
        if (i + 1 >= args.size()) return false;
        *out = args[++i];
        return true;
      };
      std::string v;
      if (a == "-f" || a == "--config-file") {
        if (!next(&o.file)) return usageError(a + " needs a file");
      } else if (a == "--node-runtime") {
        if (!next(&o.node_runtime)) return usageError("--node-runtime needs a value");
        if (o.node_runtime != "runc" && o.node_runtime != "simulated") {
          return usageError("--node-runtime must be runc or simulated, got \"" + o.node_runtime + "\"");
        }
      } else if (a == "--dry-run") {
        o.dry_run = true;
      } else if (a == "--registry-ports") {
        if (!next(&v)) return usageError("--registry-ports needs a list such as 5000,5001");
        o.registry_ports.clear();
        for (const auto& p : split(v, ',')) {
          if (p.empty()) continue;
          char* end = nullptr;
          long n = std::strtol(p.c_str(), &end, 10);
          if (*end || n < 1 || n > 65535) return usageError("--registry-ports: \"" + p + "\" is not a port");
          o.registry_ports.push_back(static_cast<int>(n));
        }
      } else if (a == "--timeout") {
        std::chrono::nanoseconds d;
        if (!next(&v) || !parseDuration(v, &d) || d.count() <= 0) {
          return usageError("--timeout needs a duration such as 5m");
        }
        o.timeout = std::chrono::duration_cast<std::chrono::seconds>(d);
      } else {
        return usageError("unknown argument \"" + a + "\"");
      }
    }
    if (o.file.empty()) return usageError("create needs -f FILE");
    Status st = create(o);
    return st.isOk() ? 0 : fail(st);
  }
  if (verb == "delete") {
    if (args.size() != 2) return usageError("delete takes one cluster NAME");
    Status st = remove(args[1]);
    return st.isOk() ? 0 : fail(st);
  }
  if (verb == "get") {
    if (args.size() > 2) return usageError("get takes at most one NAME");
    return get(args.size() == 2 ? args[1] : "");
  }
  return usageError("unknown command \"" + verb + "\"");
}

}  // namespace berth::cmd

#include "controllers/scheduler/filters.h"

#include <algorithm>
#include <climits>

namespace berth::controllers::scheduler {

namespace {

const json& kNull() {
  static const json n;
  return n;
}

const json& get(const json& obj, const char* key) {
  if (!obj.is_object()) return kNull();
  auto it = obj.find(key);
  return it == obj.end() ? kNull() : *it;
}

std::string str(const json& obj, const char* key) {
  const json& v = get(obj, key);
  return v.is_string() ? v.get<std::string>() : "";
}

bool parseInt(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  size_t pos = 0;
  try {
    *out = std::stoll(s, &pos);
  } catch (...) {
    return false;
  }
  return pos == s.size();
}

// One NodeSelectorRequirement against a value (nullptr: the node lacks the key).
bool requirementMatches(const json& req, const std::string* value) {
  std::string op = str(req, "operator");
  const json& values = get(req, "values");
  auto in = [&] {
    if (!value || !values.is_array()) return false;
    for (const auto& v : values)
      if (v.is_string() && v.get<std::string>() == *value) return true;
    return false;
  };
  if (op == "In") return in();
  if (op == "NotIn") return !in();
  if (op == "Exists") return value != nullptr;
  if (op == "DoesNotExist") return value == nullptr;
  if (op == "Gt" || op == "Lt") {
    int64_t have = 0, want = 0;
    if (!value || !parseInt(*value, &have) || !values.is_array() || values.size() != 1 ||
        !values[0].is_string() || !parseInt(values[0].get<std::string>(), &want))
      return false;
    return op == "Gt" ? have > want : have < want;
  }
  return false;
}

Result<LabelSelector> selectorOf(const json& term) {
  const json& sel = get(term, "labelSelector");
  if (sel.is_null()) return LabelSelector::nothing();
  auto r = LabelSelector::fromObject(sel);
  if (!r.isOk()) return r.status().withContext("labelSelector");
  return r;
}

// A pod affinity term as upstream reads it: namespaces listed, or the pod's own; an empty
// namespaceSelector ({}) means every namespace.
Result<AffinityTerm> parseAffinityTerm(const json& term, const std::string& pod_ns) {
  AffinityTerm t;
  t.key = str(term, "topologyKey");
  if (t.key.empty()) return invalid("pod affinity term has an empty topologyKey");
  BERTH_ASSIGN_OR_RETURN(t.selector, selectorOf(term));
  const json& nss = get(term, "namespaces");
  if (nss.is_array())
    for (const auto& n : nss)
      if (n.is_string()) t.namespaces.insert(n.get<std::string>());
  const json& ns_sel = get(term, "namespaceSelector");
  if (ns_sel.is_object() && ns_sel.empty()) t.all_namespaces = true;
  if (t.namespaces.empty() && !t.all_namespaces) t.namespaces.insert(pod_ns);
  return t;
}

Result<std::vector<AffinityTerm>> parseTerms(const json& terms, const std::string& pod_ns) {
  std::vector<AffinityTerm> out;
  if (!terms.is_array()) return out;
  for (const auto& term : terms) {
    BERTH_ASSIGN_OR_RETURN(AffinityTerm t, parseAffinityTerm(term, pod_ns));
    out.push_back(std::move(t));
  }
  return out;
}

// Calls fn(PodInfo) for every assigned pod the term's namespaces cover.
template <typename Fn>
void forEachPodIn(const AffinityTerm& t, const SchedulerCache& cache, Fn fn) {
  auto visit = [&](const std::set<std::string>& keys) {
    for (const auto& k : keys)
      if (const PodInfo* p = cache.podLocked(k)) fn(*p);
  };
  if (t.all_namespaces) {
    for (const auto& [ns, keys] : cache.podsByNamespaceLocked()) visit(keys);
    return;
  }
  for (const auto& ns : t.namespaces)
    if (const auto* keys = cache.podsInNamespaceLocked(ns)) visit(*keys);
}

void fillDomains(AffinityTerm* t, const PodInfo& self, const SchedulerCache& cache) {
  forEachPodIn(*t, cache, [&](const PodInfo& p) {
    if (p.key == self.key || !t->selector.matches(p.labels())) return;
    const NodeInfo* n = cache.nodeLocked(p.node_name);
    if (!n) return;
    if (const std::string* v = n->label(t->key)) t->domains.insert(*v);
  });
}

Result<SpreadConstraint> parseSpreadConstraint(const json& c) {
  SpreadConstraint s;
  s.key = str(c, "topologyKey");
  if (s.key.empty()) return invalid("topologySpreadConstraints: topologyKey is required");
  const json& skew = get(c, "maxSkew");
  s.max_skew = skew.is_number_integer() ? skew.get<int>() : 1;
  if (s.max_skew < 1) return invalid("topologySpreadConstraints: maxSkew must be at least 1");
  s.hard = str(c, "whenUnsatisfiable") != "ScheduleAnyway";
  const json& md = get(c, "minDomains");
  if (md.is_number_integer()) s.min_domains = std::max(1, md.get<int>());
  s.honor_node_affinity = str(c, "nodeAffinityPolicy") != "Ignore";
  s.honor_taints = str(c, "nodeTaintsPolicy") == "Honor";
  BERTH_ASSIGN_OR_RETURN(LabelSelector sel, selectorOf(c));
  s.selector = std::move(sel);
  return s;
}

// Upstream's system default constraints, for pods that belong to a controller and state none.
std::vector<SpreadConstraint> defaultSpread(const std::string& owner_uid) {
  SpreadConstraint zone, host;
  zone.key = kLabelZone;
  zone.max_skew = 5;
  host.key = kLabelHostname;
  host.max_skew = 3;
  for (auto* s : {&zone, &host}) {
    s->hard = false;
    s->owner_uid = owner_uid;
  }
  return {host, zone};
}

void countSpread(SpreadConstraint* s, const PodInfo& pod, const NodeConstraints& nc,
                 const SchedulerCache& cache) {
  bool check_affinity = s->honor_node_affinity && nc.any();
  auto eligible = [&](const NodeInfo& n) -> const std::string* {
    const std::string* v = n.label(s->key);
    if (!v) return nullptr;
    if (check_affinity && !nc.matches(n)) return nullptr;
    if (s->honor_taints && untoleratedTaint(pod, n)) return nullptr;
    return v;
  };
  if (check_affinity || s->honor_taints) {
    std::set<std::string> domains;
    for (const NodeInfo* n : cache.nodesLocked())
      if (const std::string* v = eligible(*n)) domains.insert(*v);
    s->num_domains = domains.size();
  } else {
    // Every node with the label is eligible: the domain count is memoised by the cache, and
    // counts stay sparse (a domain without matching pods is simply absent).
    s->num_domains = cache.numDomainsLocked(s->key);
  }
  auto add = [&](const std::string& node, int k) {
    const NodeInfo* n = cache.nodeLocked(node);
    if (!n) return;
    if (const std::string* v = eligible(*n)) s->counts[*v] += k;
  };
  if (!s->owner_uid.empty()) {
    s->self_match = true;
    if (const auto* by_node = cache.ownerCountsLocked(s->owner_uid))
      for (const auto& [node, k] : *by_node) add(node, k);
  } else {
    s->self_match = s->selector->matches(pod.labels());
    if (const auto* keys = cache.podsInNamespaceLocked(pod.ns))
      for (const auto& k : *keys) {
        const PodInfo* p = cache.podLocked(k);
        if (p && p->key != pod.key && s->selector->matches(p->labels())) add(p->node_name, 1);
      }
  }
  if (s->counts.size() < s->num_domains ||
      static_cast<int>(s->num_domains) < s->min_domains) {
    s->min_count = 0;  // some eligible domain has no matching pod (or too few domains)
    return;
  }
  s->min_count = INT_MAX;
  for (const auto& [v, k] : s->counts) s->min_count = std::min(s->min_count, k);
}

void existingAntiAffinity(PodContext* ctx, const SchedulerCache& cache) {
  for (const auto& key : cache.antiAffinityPodsLocked()) {
    const PodInfo* e = cache.podLocked(key);
    if (!e || e->key == ctx->pod.key) continue;
    const NodeInfo* n = cache.nodeLocked(e->node_name);
    if (!n) continue;
    const json& terms = get(get(get(e->spec(), "affinity"), "podAntiAffinity"),
                            "requiredDuringSchedulingIgnoredDuringExecution");
    auto parsed = parseTerms(terms, e->ns);
    if (!parsed.isOk()) continue;  // that pod's problem, not this one's
    for (const auto& t : *parsed) {
      if (!t.matchesPod(ctx->pod)) continue;
      if (const std::string* v = n->label(t.key)) ctx->forbidden_by_existing.insert({t.key, *v});
    }
  }
}

bool fitsResources(const PodInfo& pod, const NodeInfo& node, std::vector<std::string>* reasons) {
  size_t before = reasons->size();
  const Resources& req = pod.requests;
  const Resources& alloc = node.allocatable;
  const Resources& used = node.requested;
  if (node.num_pods + 1 > alloc.pods) reasons->push_back(kReasonTooManyPods);
  if (req.milli_cpu > 0 && req.milli_cpu > alloc.milli_cpu - used.milli_cpu)
    reasons->push_back("Insufficient cpu");
  if (req.memory > 0 && req.memory > alloc.memory - used.memory)
    reasons->push_back("Insufficient memory");
  if (req.ephemeral_storage > 0 &&
      req.ephemeral_storage > alloc.ephemeral_storage - used.ephemeral_storage)
    reasons->push_back("Insufficient ephemeral-storage");
  for (const auto& [name, want] : req.scalar) {
    if (want <= 0) continue;
    auto a = alloc.scalar.find(name);
    auto u = used.scalar.find(name);
    int64_t free = (a == alloc.scalar.end() ? 0 : a->second) - (u == used.scalar.end() ? 0 : u->second);
    if (want > free) reasons->push_back("Insufficient " + name);
  }
  return reasons->size() == before;
}

bool fitsSpread(const PodContext& ctx, const NodeInfo& node, std::vector<std::string>* reasons) {
  for (const auto& s : ctx.spread) {
    if (!s.hard) continue;
    const std::string* v = node.label(s.key);
    if (!v) {
      reasons->push_back(kReasonSpreadLabel);
      return false;
    }
    auto it = s.counts.find(*v);
    int count = it == s.counts.end() ? 0 : it->second;
    if (count + (s.self_match ? 1 : 0) - s.min_count > s.max_skew) {
      reasons->push_back(kReasonSpread);
      return false;
    }
  }
  return true;
}

bool fitsInterPod(const PodContext& ctx, const NodeInfo& node, std::vector<std::string>* reasons) {
  if (!ctx.affinity_bootstrap) {
    for (const auto& t : ctx.affinity) {
      const std::string* v = node.label(t.key);
      if (!v || !t.domains.count(*v)) {
        reasons->push_back(kReasonAffinity);
        return false;
      }
    }
  }
  for (const auto& t : ctx.anti_affinity) {
    const std::string* v = node.label(t.key);
    if (v && t.domains.count(*v)) {
      reasons->push_back(kReasonAntiAffinity);
      return false;
    }
  }
  for (const auto& [key, value] : ctx.forbidden_by_existing) {
    const std::string* v = node.label(key);
    if (v && *v == value) {
      reasons->push_back(kReasonExistingAntiAffinity);
      return false;
    }
  }
  return true;
}

}  // namespace

bool AffinityTerm::matchesPod(const PodInfo& p) const {
  if (!all_namespaces && !namespaces.count(p.ns)) return false;
  return selector.matches(p.labels());
}

Result<PodContext> PodContext::build(PodInfo pod, const SchedulerCache& cache) {
  PodContext ctx;
  ctx.pod = std::move(pod);
  const json& spec = ctx.pod.spec();
  const json& tsc = get(spec, "topologySpreadConstraints");
  if (tsc.is_array() && !tsc.empty()) {
    for (const auto& c : tsc) {
      BERTH_ASSIGN_OR_RETURN(SpreadConstraint s, parseSpreadConstraint(c));
      ctx.spread.push_back(std::move(s));
    }
  } else if (!ctx.pod.owner_uid.empty()) {
    ctx.spread = defaultSpread(ctx.pod.owner_uid);
  }
  ctx.node_constraints = NodeConstraints::of(spec);
  for (auto& s : ctx.spread) countSpread(&s, ctx.pod, ctx.node_constraints, cache);

  const json& affinity = get(spec, "affinity");
  const char* kRequired = "requiredDuringSchedulingIgnoredDuringExecution";
  BERTH_ASSIGN_OR_RETURN(ctx.affinity,
                         parseTerms(get(get(affinity, "podAffinity"), kRequired), ctx.pod.ns));
  BERTH_ASSIGN_OR_RETURN(ctx.anti_affinity,
                         parseTerms(get(get(affinity, "podAntiAffinity"), kRequired), ctx.pod.ns));
  bool any_domain = false, self_matches_all = true;
  for (auto& t : ctx.affinity) {
    fillDomains(&t, ctx.pod, cache);
    any_domain = any_domain || !t.domains.empty();
    self_matches_all = self_matches_all && t.matchesPod(ctx.pod);
  }
  ctx.affinity_bootstrap = !ctx.affinity.empty() && !any_domain && self_matches_all;
  for (auto& t : ctx.anti_affinity) fillDomains(&t, ctx.pod, cache);
  existingAntiAffinity(&ctx, cache);
  return ctx;
}

bool matchesNodeSelectorTerm(const json& term, const NodeInfo& node) {
  const json& exprs = get(term, "matchExpressions");
  const json& fields = get(term, "matchFields");
  bool has_exprs = exprs.is_array() && !exprs.empty();
  bool has_fields = fields.is_array() && !fields.empty();
  if (!has_exprs && !has_fields) return false;
  if (has_exprs)
    for (const auto& r : exprs)
      if (!requirementMatches(r, node.label(str(r, "key")))) return false;
  if (has_fields)
    for (const auto& r : fields) {
      // Only metadata.name is a supported field, as upstream.
      if (str(r, "key") != "metadata.name") return false;
      if (!requirementMatches(r, &node.name)) return false;
    }
  return true;
}

NodeConstraints NodeConstraints::of(const json& spec) {
  NodeConstraints nc;
  const json& sel = get(spec, "nodeSelector");
  if (sel.is_object() && !sel.empty()) nc.node_selector = &sel;
  const json& required = get(get(get(spec, "affinity"), "nodeAffinity"),
                             "requiredDuringSchedulingIgnoredDuringExecution");
  if (required.is_object()) {
    nc.has_required = true;
    const json& terms = get(required, "nodeSelectorTerms");
    if (terms.is_array()) nc.required_terms = &terms;
  }
  return nc;
}

bool NodeConstraints::matches(const NodeInfo& node) const {
  if (node_selector)
    for (auto it = node_selector->begin(); it != node_selector->end(); ++it) {
      const std::string* v = node.label(it.key());
      if (!v || !it.value().is_string() || *v != it.value().get<std::string>()) return false;
    }
  if (!has_required) return true;
  if (!required_terms) return false;
  for (const auto& t : *required_terms)
    if (matchesNodeSelectorTerm(t, node)) return true;
  return false;
}

bool matchesNodeSelectorAndAffinity(const json& spec, const NodeInfo& node) {
  return NodeConstraints::of(spec).matches(node);
}

std::optional<Taint> untoleratedTaint(const PodInfo& pod, const NodeInfo& node) {
  auto tolerated = [&](const Taint& t) {
    for (const auto& tol : pod.tolerations)
      if (tol.tolerates(t)) return true;
    return false;
  };
  for (const auto& t : node.taints) {
    if (t.effect != "NoSchedule" && t.effect != "NoExecute") continue;
    if (!tolerated(t)) return t;
  }
  // A node that is not Ready is treated as the node lifecycle controller's not-ready taint.
  if (!node.ready) {
    Taint nr{kTaintNotReady, "", "NoSchedule"};
    if (!tolerated(nr)) return nr;
  }
  return std::nullopt;
}

void runFilters(const PodContext& ctx, const NodeInfo& node, std::vector<std::string>* reasons) {
  const PodInfo& pod = ctx.pod;
  if (node.unschedulable) {
    Taint t{kTaintUnschedulable, "", "NoSchedule"};
    bool tolerated = std::any_of(pod.tolerations.begin(), pod.tolerations.end(),
                                 [&](const Toleration& tol) { return tol.tolerates(t); });
    if (!tolerated) {
      reasons->push_back(kReasonUnschedulable);
      return;
    }
  }
  if (auto t = untoleratedTaint(pod, node)) {
    reasons->push_back("node(s) had untolerated taint {" + t->key + ": " + t->value + "}");
    return;
  }
  if (!ctx.node_constraints.matches(node)) {
    reasons->push_back(kReasonNodeAffinity);
    return;
  }
  for (const auto& want : pod.host_ports)
    for (const auto& used : node.used_ports)
      if (want.conflicts(used)) {
        reasons->push_back(kReasonPorts);
        return;
      }
  if (!fitsResources(pod, node, reasons)) return;
  if (!fitsSpread(ctx, node, reasons)) return;
  fitsInterPod(ctx, node, reasons);
}

std::string fitErrorMessage(size_t num_nodes, const std::map<std::string, int>& reasons) {
  if (num_nodes == 0) return "no nodes available to schedule pods";
  std::vector<std::string> parts;
  for (const auto& [reason, n] : reasons) parts.push_back(std::to_string(n) + " " + reason);
  std::sort(parts.begin(), parts.end());
  std::string out = "0/" + std::to_string(num_nodes) + " nodes are available: ";
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
  return out + ".";
}

}  // namespace berth::controllers::scheduler

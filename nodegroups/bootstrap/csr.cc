#include "nodegroups/bootstrap/csr.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>
#include <set>

#include "common/openssl_util.h"
#include "common/strings.h"

namespace berth::nodegroups::bootstrap {

namespace {

using ssl::BioPtr;
using ssl::BnPtr;
using ssl::bioString;
using ssl::CertPtr;
using ssl::KeyPtr;
using ssl::memBio;
using ssl::ReqPtr;

CsrContent subjectOf(X509_NAME* name) {
  CsrContent c;
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    if (n < 0) continue;
    std::string v(reinterpret_cast<char*>(utf8), n);
    OPENSSL_free(utf8);
    if (nid == NID_commonName) c.common_name = v;
    else if (nid == NID_organizationName) c.organizations.push_back(v);
  }
  return c;
}

const json* find(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* p : path) {
    if (!cur->is_object() || !cur->contains(p)) return nullptr;
    cur = &(*cur)[p];
  }
  return cur;
}

std::string str(const json& j, std::initializer_list<const char*> path) {
  const json* v = find(j, path);
  return v && v->is_string() ? v->get<std::string>() : "";
}

}  // namespace

Result<KeyAndCsr> makeNodeClientCsr(const std::string& node_name) {
  if (node_name.empty()) return badRequest("node name is empty");
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return ssl::failure("generating P-256 key");
  ReqPtr req(X509_REQ_new());
  if (!req) return ssl::failure("X509_REQ_new");
  X509_REQ_set_version(req.get(), 0);
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  std::string cn = kNodeUserPrefix + node_name;
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(kNodesGroup), -1, -1, 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) != 1)
    return ssl::failure("setting CSR subject");
  if (X509_REQ_set_pubkey(req.get(), key.get()) != 1) return ssl::failure("setting CSR key");
  if (X509_REQ_sign(req.get(), key.get(), EVP_sha256()) == 0) return ssl::failure("signing CSR");
  BioPtr kb(BIO_new(BIO_s_mem())), rb(BIO_new(BIO_s_mem()));
  if (!kb || PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return ssl::failure("encoding key");
  if (!rb || PEM_write_bio_X509_REQ(rb.get(), req.get()) != 1) return ssl::failure("encoding CSR");
  return KeyAndCsr{bioString(kb.get()), bioString(rb.get())};
}

Result<CsrContent> parseCsrPem(const std::string& pem) {
  BioPtr bio = memBio(pem);
  ReqPtr req(bio ? PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!req) {
    ERR_clear_error();
    return badRequest("spec.request is not a PEM CERTIFICATE REQUEST");
  }
  KeyPtr key(X509_REQ_get_pubkey(req.get()));
  if (!key || X509_REQ_verify(req.get(), key.get()) != 1) {
    ERR_clear_error();
    return badRequest("the CSR's signature does not verify with its public key");
  }
  CsrContent c = subjectOf(X509_REQ_get_subject_name(req.get()));
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req.get());
  if (exts) {
    for (int i = 0; i < sk_X509_EXTENSION_num(exts); ++i)
      if (OBJ_obj2nid(X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts, i))) == NID_subject_alt_name)
        c.has_sans = true;
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  }
  return c;
}

Result<std::string> signClientCsr(const std::string& csr_pem, const std::string& ca_cert_pem,
                                  const std::string& ca_key_pem, std::chrono::seconds duration,
                                  TimePoint now) {
  BERTH_RETURN_IF_ERROR(parseCsrPem(csr_pem).status());
  BioPtr rb = memBio(csr_pem), cb = memBio(ca_cert_pem), kb = memBio(ca_key_pem);
  ReqPtr req(PEM_read_bio_X509_REQ(rb.get(), nullptr, nullptr, nullptr));
  CertPtr ca(cb ? PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr) : nullptr);
  KeyPtr ca_key(kb ? PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!req) return ssl::failure("reading CSR");
  if (!ca || !ca_key) return ssl::failure("reading the cluster CA");
  KeyPtr pub(X509_REQ_get_pubkey(req.get()));
  CertPtr cert(X509_new());
  if (!cert || !pub) return ssl::failure("X509_new");
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return ssl::failure("RAND_bytes");
  serial[0] &= 0x7f;
  BnPtr bn(BN_bin2bn(serial, sizeof serial, nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()))) return ssl::failure("serial");
  time_t t = std::chrono::system_clock::to_time_t(now);
  // Back-dated as upstream's signer does, for clocks a little behind.
  X509_time_adj_ex(X509_getm_notBefore(cert.get()), 0, -300, &t);
  X509_time_adj_ex(X509_getm_notAfter(cert.get()), 0, static_cast<long>(duration.count()), &t);
  if (X509_cmp_time(X509_get0_notAfter(ca.get()), nullptr) < 0) return internalError("the cluster CA has expired");
  if (ASN1_TIME_compare(X509_get0_notAfter(cert.get()), X509_get0_notAfter(ca.get())) > 0)
    X509_set1_notAfter(cert.get(), X509_get0_notAfter(ca.get()));
  X509_set_subject_name(cert.get(), X509_REQ_get_subject_name(req.get()));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.get()));
  if (X509_set_pubkey(cert.get(), pub.get()) != 1) return ssl::failure("setting public key");
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca.get(), cert.get(), nullptr, nullptr, 0);
  BERTH_RETURN_IF_ERROR(ssl::addExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE"));
  BERTH_RETURN_IF_ERROR(ssl::addExtension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment"));
  BERTH_RETURN_IF_ERROR(ssl::addExtension(cert.get(), &ctx, NID_ext_key_usage, "clientAuth"));
  BERTH_RETURN_IF_ERROR(ssl::addExtension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"));
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0) return ssl::failure("signing certificate");
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_X509(out.get(), cert.get()) != 1) return ssl::failure("encoding certificate");
  return bioString(out.get());
}

Result<CsrContent> certificateSubject(const std::string& cert_pem) {
  BioPtr bio = memBio(cert_pem);
  CertPtr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) return ssl::failure("parsing certificate");
  return subjectOf(X509_get_subject_name(cert.get()));
}

Result<std::string> csrRequestPem(const json& csr) {
  std::string pem;
  if (!base64Decode(str(csr, {"spec", "request"}), &pem)) return badRequest("spec.request is not base64");
  return pem;
}

CsrDecision decideCsr(const json& csr) {
  if (str(csr, {"spec", "signerName"}) != kKubeletClientSigner)
    return {false, "signer " + str(csr, {"spec", "signerName"}) + " is not auto-approved"};
  if (const json* conds = find(csr, {"status", "conditions"}); conds && conds->is_array())
    for (const auto& c : *conds)
      if (c.is_object() && (c.value("type", "") == "Approved" || c.value("type", "") == "Denied"))
        return {false, "already " + c.value("type", "")};
  auto pem = csrRequestPem(csr);
  if (!pem.isOk()) return {false, pem.status().message()};
  auto content = parseCsrPem(*pem);
  if (!content.isOk()) return {false, content.status().message()};
  // Upstream's isNodeClientCert: O=[system:nodes] exactly, CN=system:node:<name>, no SANs.
  if (content->organizations != std::vector<std::string>{kNodesGroup})
    return {false, "subject O must be exactly system:nodes"};
  const std::string& cn = content->common_name;
  if (!startsWith(cn, kNodeUserPrefix) || cn.size() == std::string(kNodeUserPrefix).size())
    return {false, "subject CN must be system:node:<name>, got \"" + cn + "\""};
  if (content->has_sans) return {false, "a node client certificate carries no subject alternative names"};
  static const std::set<std::string> kAllowed = {"digital signature", "key encipherment", "client auth"};
  const json* usages = find(csr, {"spec", "usages"});
  bool client_auth = false;
  if (!usages || !usages->is_array()) return {false, "spec.usages is missing"};
  for (const auto& u : *usages) {
    std::string s = u.is_string() ? u.get<std::string>() : "";
    if (!kAllowed.count(s)) return {false, "usage \"" + s + "\" is not allowed for a node client certificate"};
    client_auth |= s == "client auth";
  }
  if (!client_auth) return {false, "usages must include client auth"};
  std::string user = str(csr, {"spec", "username"});
  if (user == cn) return {true, "Auto approving self kubelet client certificate after SubjectAccessReview."};
  if (const json* groups = find(csr, {"spec", "groups"}); groups && groups->is_array())
    for (const auto& g : *groups)
      if (g.is_string() && g.get<std::string>() == "system:bootstrappers")
        return {true, "Auto approving kubelet client certificate after SubjectAccessReview."};
  return {false, "requestor " + user + " is neither a bootstrapper nor " + cn};
}

std::chrono::seconds certificateDuration(const json& csr, std::chrono::seconds cap) {
  const json* e = find(csr, {"spec", "expirationSeconds"});
  if (!e || !e->is_number_integer()) return cap;
  std::chrono::seconds want(e->get<int64_t>());
  return std::min(std::max(want, std::chrono::seconds(600)), cap);
}

}  // namespace berth::nodegroups::bootstrap

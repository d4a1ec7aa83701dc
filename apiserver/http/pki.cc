#include "apiserver/http/pki.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "common/log.h"
#include "common/openssl_util.h"
#include "common/strings.h"

namespace berth::http {

namespace {

using ssl::BioPtr;
using ssl::BnPtr;
using ssl::CertPtr;
using ssl::KeyPtr;

constexpr long kDay = 24 * 60 * 60;
constexpr int kCaDays = 3650;
constexpr int kLeafDays = 365;
constexpr int kRenewWithinDays = 30;

Result<KeyPtr> generateKey() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return ssl::failure("generating P-256 key");
  return key;
}

Result<std::string> keyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return ssl::failure("encoding private key");
  }
  return ssl::bioString(bio.get());
}

Result<std::string> certPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return ssl::failure("encoding certificate");
  return ssl::bioString(bio.get());
}

Result<CertPtr> parseCert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  CertPtr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) return ssl::failure("parsing certificate");
  return cert;
}

Result<KeyPtr> parseKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  KeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) return ssl::failure("parsing private key");
  return key;
}

struct CertSpec {
  std::string cn;
  std::vector<std::string> orgs;
  int days = kLeafDays;
  bool is_ca = false;
  bool server_auth = false;
  bool client_auth = false;
  std::vector<std::string> sans;  // "DNS:x" / "IP:y"
};

// Signs a certificate for `key` with `issuer_key`; self-signed when `issuer` is null.
Result<CertPtr> makeCert(const CertSpec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
  CertPtr cert(X509_new());
  if (!cert) return ssl::failure("X509_new");
  X509_set_version(cert.get(), 2);  // v3
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof serial_bytes) != 1) return ssl::failure("RAND_bytes");
  serial_bytes[0] &= 0x7f;  // positive
  BnPtr bn(BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()))) {
    return ssl::failure("setting serial");
  }
  // Back-date an hour so a slightly slow clock elsewhere still accepts a fresh certificate.
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(spec.days) * kDay);
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const auto& o : spec.orgs) {
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(o.c_str()), -1, -1, 0);
  }
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(spec.cn.c_str()), -1, -1,
                                 0) != 1) {
    return ssl::failure("setting subject");
  }
  X509* signer = issuer ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  if (X509_set_pubkey(cert.get(), key) != 1) return ssl::failure("setting public key");

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, signer, cert.get(), nullptr, nullptr, 0);
  if (spec.is_ca) {
    BERTH_RETURN_IF_ERROR(ssl::addExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE"));
    BERTH_RETURN_IF_ERROR(
        ssl::addExtension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"));
  } else {
    BERTH_RETURN_IF_ERROR(ssl::addExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE"));
    BERTH_RETURN_IF_ERROR(
        ssl::addExtension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment"));
    std::vector<std::string> eku;
    if (spec.server_auth) eku.push_back("serverAuth");
    if (spec.client_auth) eku.push_back("clientAuth");
    if (!eku.empty()) {
      BERTH_RETURN_IF_ERROR(ssl::addExtension(cert.get(), &ctx, NID_ext_key_usage, join(eku, ",")));
    }
  }
  BERTH_RETURN_IF_ERROR(ssl::addExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
  if (issuer) {
    BERTH_RETURN_IF_ERROR(ssl::addExtension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"));
  }
  if (!spec.sans.empty()) {
    BERTH_RETURN_IF_ERROR(ssl::addExtension(cert.get(), &ctx, NID_subject_alt_name, join(spec.sans, ",")));
  }
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) == 0) return ssl::failure("signing");
  return cert;
}

// Normalizes one requested SAN: "IP:<canonical address>" or "DNS:<lower-case name>";
// "" for strings that are neither.
std::string normalizeSan(std::string_view raw) {
  std::string s(trim(raw));
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  if (s.empty()) return "";
  unsigned char buf[sizeof(in6_addr)];
  char text[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
    inet_ntop(AF_INET, buf, text, sizeof text);
    return "IP:" + std::string(text);
  }
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    inet_ntop(AF_INET6, buf, text, sizeof text);
    return "IP:" + std::string(text);
  }
  for (char c : s) {
    // DNS names (and wildcards); anything else would corrupt the extension text.
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '*' ||
          c == '_')) {
      return "";
    }
  }
  return "DNS:" + toLower(s);
}

std::set<std::string> wantedSans(const std::vector<std::string>& requested) {
  std::set<std::string> out = {"DNS:localhost", "IP:127.0.0.1", "IP:::1"};
  char host[256] = "";
  if (gethostname(host, sizeof host - 1) == 0 && host[0]) {
    std::string n = normalizeSan(host);
    if (!n.empty()) out.insert(n);
  }
  for (const auto& r : requested) {
    std::string n = normalizeSan(r);
    if (n.empty()) {
      BLOG_WARN("pki ignoring SAN that is neither an IP nor a DNS name").kv("san", r);
      continue;
    }
    out.insert(n);
  }
  return out;
}

std::vector<std::string> sansOf(X509* cert) {
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type == GEN_DNS) {
      const ASN1_STRING* s = gn->d.dNSName;
      out.push_back("DNS:" + toLower(std::string(
                                 reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                 static_cast<size_t>(ASN1_STRING_length(s)))));
    } else if (gn->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* s = gn->d.iPAddress;
      char text[INET6_ADDRSTRLEN] = "";
      int len = ASN1_STRING_length(s);
      if (len == 4) inet_ntop(AF_INET, ASN1_STRING_get0_data(s), text, sizeof text);
      else if (len == 16) inet_ntop(AF_INET6, ASN1_STRING_get0_data(s), text, sizeof text);
      if (text[0]) out.push_back("IP:" + std::string(text));
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

// A certificate is reusable when the CA signed it, its key matches and it is not about to expire.
bool usable(X509* cert, EVP_PKEY* key, EVP_PKEY* ca_key) {
  if (X509_verify(cert, ca_key) != 1) return false;
  if (X509_check_private_key(cert, key) != 1) return false;
  time_t limit = time(nullptr) + kRenewWithinDays * kDay;
  return X509_cmp_time(X509_get0_notAfter(cert), &limit) > 0;
}

bool fileExists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

struct Pair {
  CertPtr cert;
  KeyPtr key;
};

Result<Pair> loadPair(const std::string& cert_path, const std::string& key_path) {
  BERTH_ASSIGN_OR_RETURN(std::string cert_pem, readFile(cert_path));
  BERTH_ASSIGN_OR_RETURN(std::string key_pem, readFile(key_path));
  BERTH_ASSIGN_OR_RETURN(CertPtr cert, parseCert(cert_pem));
  BERTH_ASSIGN_OR_RETURN(KeyPtr key, parseKey(key_pem));
  return Pair{std::move(cert), std::move(key)};
}

Status writePair(X509* cert, EVP_PKEY* key, const std::string& cert_path,
                 const std::string& key_path) {
  BERTH_ASSIGN_OR_RETURN(std::string key_pem, keyPem(key));
  BERTH_ASSIGN_OR_RETURN(std::string cert_pem, certPem(cert));
  // Key first: a certificate on disk always has its key beside it.
  BERTH_RETURN_IF_ERROR(writeFileAtomic(key_path, key_pem, 0600));
  return writeFileAtomic(cert_path, cert_pem, 0644);
}

Status issueToFiles(const CertSpec& spec, const Pair& ca, const std::string& cert_path,
                    const std::string& key_path) {
  BERTH_ASSIGN_OR_RETURN(KeyPtr key, generateKey());
  BERTH_ASSIGN_OR_RETURN(CertPtr cert, makeCert(spec, key.get(), ca.cert.get(), ca.key.get()));
  return writePair(cert.get(), key.get(), cert_path, key_path);
}

Status ensureDir(const std::string& dir) {
  std::string partial;
  for (const auto& part : split(dir, '/')) {
    partial += part;
    partial += '/';
    if (part.empty() || part == ".") continue;
    if (mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      return internalError("mkdir " + partial + ": " + strerror(errno));
    }
  }
  return Status::ok();
}

}  // namespace

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return notFound("cannot open " + path + ": " + strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return internalError("reading " + path);
  return ss.str();
}

Status writeFileAtomic(const std::string& path, const std::string& data, int mode) {
  std::string tmp = path + ".tmp.XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0) return internalError("creating temp file for " + path + ": " + strerror(errno));
  auto fail = [&](const char* what) {
    std::string err = strerror(errno);
    ::close(fd);
    unlink(tmp.c_str());
    return internalError(std::string(what) + " " + path + ": " + err);
  };
  if (fchmod(fd, static_cast<mode_t>(mode)) != 0) return fail("chmod");
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write");
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return fail("fsync");
  if (::close(fd) != 0) {
    unlink(tmp.c_str());
    return internalError("close " + path + ": " + strerror(errno));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    std::string err = strerror(errno);
    unlink(tmp.c_str());
    return internalError("rename " + path + ": " + err);
  }
  return Status::ok();
}

Result<PkiFiles> ensurePki(const std::string& pki_dir, const std::vector<std::string>& sans) {
  PkiFiles f;
  f.dir = pki_dir;
  f.ca_cert = pki_dir + "/ca.crt";
  f.ca_key = pki_dir + "/ca.key";
  f.serving_cert = pki_dir + "/serving.crt";
  f.serving_key = pki_dir + "/serving.key";
  f.admin_cert = pki_dir + "/admin.crt";
  f.admin_key = pki_dir + "/admin.key";
  BERTH_RETURN_IF_ERROR(ensureDir(pki_dir));

  // The CA: never replaced once it exists, since every issued credential hangs off it.
  Pair ca;
  if (fileExists(f.ca_cert) || fileExists(f.ca_key)) {
    auto loaded = loadPair(f.ca_cert, f.ca_key);
    if (!loaded.isOk()) return loaded.status().withContext("loading cluster CA from " + pki_dir);
    ca = std::move(loaded).value();
    if (X509_check_private_key(ca.cert.get(), ca.key.get()) != 1) {
      return internalError("cluster CA key does not match its certificate in " + pki_dir);
    }
  } else {
    BERTH_ASSIGN_OR_RETURN(ca.key, generateKey());
    CertSpec spec;
    spec.cn = "berth-ca";
    spec.days = kCaDays;
    spec.is_ca = true;
    BERTH_ASSIGN_OR_RETURN(ca.cert, makeCert(spec, ca.key.get(), nullptr, ca.key.get()));
    BERTH_RETURN_IF_ERROR(writePair(ca.cert.get(), ca.key.get(), f.ca_cert, f.ca_key));
    BLOG(2, "pki created cluster CA").kv("dir", pki_dir);
  }

  std::set<std::string> wanted = wantedSans(sans);
  bool serving_ok = false;
  if (fileExists(f.serving_cert) && fileExists(f.serving_key)) {
    auto loaded = loadPair(f.serving_cert, f.serving_key);
    if (loaded.isOk() && usable(loaded->cert.get(), loaded->key.get(), ca.key.get())) {
      auto have_list = sansOf(loaded->cert.get());
      std::set<std::string> have(have_list.begin(), have_list.end());
      serving_ok = true;
      for (const auto& w : wanted) {
        if (!have.count(w)) {
          BLOG(2, "pki serving certificate lacks a SAN; reissuing").kv("san", w);
          serving_ok = false;
          break;
        }
      }
    }
  }
  if (!serving_ok) {
    CertSpec spec;
    spec.cn = "berth-apiserver";
    spec.server_auth = true;
    spec.sans.assign(wanted.begin(), wanted.end());
    BERTH_RETURN_IF_ERROR(issueToFiles(spec, ca, f.serving_cert, f.serving_key));
    BLOG(2, "pki issued serving certificate").kv("sans", join(spec.sans, ","));
  }

  bool admin_ok = false;
  if (fileExists(f.admin_cert) && fileExists(f.admin_key)) {
    auto loaded = loadPair(f.admin_cert, f.admin_key);
    admin_ok = loaded.isOk() && usable(loaded->cert.get(), loaded->key.get(), ca.key.get());
  }
  if (!admin_ok) {
    CertSpec spec;
    spec.cn = "admin";
    spec.orgs = {"system:masters"};
    spec.client_auth = true;
    BERTH_RETURN_IF_ERROR(issueToFiles(spec, ca, f.admin_cert, f.admin_key));
  }
  return f;
}

Result<std::pair<std::string, std::string>> issueClientCert(const PkiFiles& pki,
                                                            const std::string& cn,
                                                            const std::vector<std::string>& orgs) {
  if (cn.empty()) return badRequest("client certificate needs a common name");
  BERTH_ASSIGN_OR_RETURN(Pair ca, loadPair(pki.ca_cert, pki.ca_key));
  BERTH_ASSIGN_OR_RETURN(KeyPtr key, generateKey());
  CertSpec spec;
  spec.cn = cn;
  spec.orgs = orgs;
  spec.client_auth = true;
  BERTH_ASSIGN_OR_RETURN(CertPtr cert, makeCert(spec, key.get(), ca.cert.get(), ca.key.get()));
  BERTH_ASSIGN_OR_RETURN(std::string cert_pem, certPem(cert.get()));
  BERTH_ASSIGN_OR_RETURN(std::string key_pem, keyPem(key.get()));
  return std::make_pair(std::move(cert_pem), std::move(key_pem));
}

Result<std::vector<std::string>> certificateSans(const std::string& cert_pem) {
  BERTH_ASSIGN_OR_RETURN(CertPtr cert, parseCert(cert_pem));
  return sansOf(cert.get());
}

Result<std::string> renderKubeconfig(const std::string& server_url, const std::string& ca_pem,
                                     const std::string& client_cert_pem,
                                     const std::string& client_key_pem,
                                     const std::string& cluster_name,
                                     const std::string& user_name) {
  try {
    std::string context = user_name + "@" + cluster_name;
    YAML::Emitter out;
    out << YAML::BeginMap;
    out << YAML::Key << "apiVersion" << YAML::Value << "v1";
    out << YAML::Key << "kind" << YAML::Value << "Config";
    out << YAML::Key << "clusters" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << cluster_name;
    out << YAML::Key << "cluster" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "server" << YAML::Value << server_url;
    out << YAML::Key << "certificate-authority-data" << YAML::Value << base64Encode(ca_pem);
    out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
    out << YAML::Key << "users" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << user_name;
    out << YAML::Key << "user" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "client-certificate-data" << YAML::Value << base64Encode(client_cert_pem);
    out << YAML::Key << "client-key-data" << YAML::Value << base64Encode(client_key_pem);
    out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
    out << YAML::Key << "contexts" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << context;
    out << YAML::Key << "context" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "cluster" << YAML::Value << cluster_name;
    out << YAML::Key << "user" << YAML::Value << user_name;
    out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
    out << YAML::Key << "current-context" << YAML::Value << context;
    out << YAML::Key << "preferences" << YAML::Value << YAML::Flow << YAML::BeginMap
        << YAML::EndMap;
    out << YAML::EndMap;
    if (!out.good()) return internalError("rendering kubeconfig: " + out.GetLastError());
    return std::string(out.c_str()) + "\n";
  } catch (const std::exception& e) {
    return internalError(std::string("rendering kubeconfig: ") + e.what());
  }
}

}  // namespace berth::http

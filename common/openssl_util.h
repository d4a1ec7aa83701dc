// Small OpenSSL 3 helpers shared by the PKI, the TLS server and node bootstrap: owning pointers
// for OpenSSL objects, error-queue messages, memory BIOs and X.509 extensions. Header-only, so
// only the code that includes it needs OpenSSL.
// Thread-safety: OpenSSL's error queue is per thread; the helpers keep no state of their own.
#pragma once

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

#include "common/status.h"

namespace berth::ssl {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using CertPtr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;

// Drains this thread's OpenSSL error queue into one message ("unknown OpenSSL error" when empty).
inline std::string errors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

// An internal error "<what>: <OpenSSL's errors>".
inline Status failure(const std::string& what) { return internalError(what + ": " + errors()); }

// The contents of a memory BIO.
inline std::string bioString(BIO* bio) {
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(bio, &mem);
  return mem ? std::string(mem->data, mem->length) : std::string();
}

// A read-only memory BIO over `s` (which must outlive it).
inline BioPtr memBio(const std::string& s) {
  return BioPtr(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())));
}

// Adds the extension `nid` = `value` (OpenSSL config syntax) to `cert`.
inline Status addExtension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1)
    return failure("adding extension " + std::string(OBJ_nid2sn(nid)) + "=" + value);
  return Status::ok();
}

}  // namespace berth::ssl

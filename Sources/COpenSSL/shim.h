#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H
/* OpenSSL's libcrypto for SHA-256: it uses the CPU's SHA extensions where present,
 * about four times faster here than a portable implementation. */
#include <openssl/evp.h>
/* HMAC-SHA256 for S3's SigV4 request signing. */
#include <openssl/hmac.h>
#endif

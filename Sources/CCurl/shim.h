#ifndef CCURL_SHIM_H
#define CCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call.
 * One typed wrapper per argument kind; the option decides which one applies. */
static inline CURLcode cbk_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode cbk_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode cbk_curl_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode cbk_curl_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode cbk_curl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
/* Callbacks, typed (a function pointer cannot travel through the void* overload). */
static inline CURLcode cbk_curl_setopt_write_function(CURL *h, curl_write_callback f) { return curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, f); }
static inline CURLcode cbk_curl_setopt_header_function(CURL *h, curl_write_callback f) { return curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, f); }
static inline CURLcode cbk_curl_setopt_read_function(CURL *h, curl_read_callback f) { return curl_easy_setopt(h, CURLOPT_READFUNCTION, f); }
/* Rewinding the upload: curl needs it when authentication makes it send the body again. */
static inline CURLcode cbk_curl_setopt_seek_function(CURL *h, curl_seek_callback f) { return curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, f); }
/* Progress, which is also where a stalled transfer is noticed and stopped. */
static inline CURLcode cbk_curl_setopt_xferinfo_function(CURL *h, curl_xferinfo_callback f) { return curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, f); }
/* CURLAUTH_* are macros with casts, which Swift does not import. */
static inline unsigned long cbk_curlauth_basic_or_digest(void) { return CURLAUTH_BASIC | CURLAUTH_DIGEST; }
static inline unsigned long cbk_curlauth_basic(void) { return CURLAUTH_BASIC; }
static inline unsigned long cbk_curlauth_digest(void) { return CURLAUTH_DIGEST; }
static inline CURLcode cbk_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode cbk_curl_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode cbk_curl_getinfo_string(CURL *h, CURLINFO i, char **v) { return curl_easy_getinfo(h, i, v); }
/* CURLVERSION_NOW is a macro naming an enum value, which Swift does not import. */
static inline curl_version_info_data *cbk_curl_version_info(void) { return curl_version_info(CURLVERSION_NOW); }
#endif

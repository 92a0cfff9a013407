#ifndef CZSTD_SHIM_H
#define CZSTD_SHIM_H
/* libzstd's streaming API, used directly (rather than through libarchive's zstd filter) so that the
 * multithreaded job size, and with it the memory, is ours to set. */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#endif

#ifndef CSODIUM_SHIM_H
#define CSODIUM_SHIM_H
/* libsodium for BLAKE2b (crypto_generichash), which PlanToCode uses for project_hash. */
#include <sodium.h>
#endif

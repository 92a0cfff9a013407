#ifndef CSQLITE_SHIM_H
#define CSQLITE_SHIM_H
#include <sqlite3.h>

/* Swift cannot call variadic C functions. These typed wrappers expose the
 * few sqlite3_db_config / sqlite3_file_control calls that ptc-backup needs. */

/* SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE: leave the -wal file in place when the last
 * connection closes (the sample generator uses it to keep commits in the WAL). */
static inline int csqlite_db_config_no_ckpt_on_close(sqlite3 *db, int on) {
    return sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, on, (int *)0);
}

/* SQLITE_DBCONFIG_DEFENSIVE: refuse writes that could corrupt the file. */
static inline int csqlite_db_config_defensive(sqlite3 *db, int on) {
    return sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, on, (int *)0);
}

/* SQLITE_TRANSIENT is a macro around a cast Swift does not import. */
static inline sqlite3_destructor_type csqlite_transient(void) {
    return SQLITE_TRANSIENT;
}
#endif

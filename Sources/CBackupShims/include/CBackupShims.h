#ifndef CBACKUPSHIMS_H
#define CBACKUPSHIMS_H
#include <sqlite3.h>

/* A pass-through SQLite VFS, "ptc-tee", that reports every successful write to one watched main
 * database file. The exporter uses it on the snapshot it is creating with the online backup API, so
 * that pages can be compressed while the backup is still copying: SQLite decides when pages reach
 * the file (cache spills, commit), and only the VFS sees that moment.
 *
 * Only files opened as SQLITE_OPEN_MAIN_DB that are the watched file (same device and inode) are
 * reported; every other call goes straight to the default VFS. */

/* Called after each successful xWrite (kind 0) or xTruncate (kind 1, amount = new size) of the watched file. */
typedef void (*cbk_tee_callback)(void *context, int kind, sqlite3_int64 offset, sqlite3_int64 amount);

/* Registers the "ptc-tee" VFS once (not as the default). Returns an SQLite result code. */
int cbk_tee_register(void);

/* Starts reporting writes to the existing file at `path` to `callback`, for connections opened after
 * this call; sets *slot for cbk_tee_unwatch. Up to 16 files at once; SQLITE_BUSY beyond that. */
int cbk_tee_watch(const char *path, cbk_tee_callback callback, void *context, int *slot);

/* Stops reporting for the watch in `slot`; files opened under it report nothing more. */
void cbk_tee_unwatch(int slot);

#endif

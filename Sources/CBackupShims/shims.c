#include "CBackupShims.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct TeeFile {
    sqlite3_file base;      /* must be first */
    sqlite3_file *real;     /* the default VFS's file, stored right after this struct */
    int slot;               /* index into watches, or -1 */
    unsigned generation;    /* the watch's generation when the file was opened */
} TeeFile;

#define TEE_SLOTS 16

typedef struct TeeWatch {
    int used;
    unsigned generation;
    dev_t dev;
    ino_t ino;
    cbk_tee_callback callback;
    void *context;
} TeeWatch;

static sqlite3_vfs tee_vfs;
static sqlite3_vfs *real_vfs;
static pthread_mutex_t tee_lock = PTHREAD_MUTEX_INITIALIZER;
static TeeWatch watches[TEE_SLOTS];

#define REAL(f) (((TeeFile *)(f))->real)

static void tee_report(sqlite3_file *f, int kind, sqlite3_int64 offset, sqlite3_int64 amount) {
    TeeFile *tee = (TeeFile *)f;
    if (tee->slot < 0) return;
    pthread_mutex_lock(&tee_lock);
    TeeWatch *w = &watches[tee->slot];
    cbk_tee_callback callback = (w->used && w->generation == tee->generation) ? w->callback : 0;
    void *context = w->context;
    pthread_mutex_unlock(&tee_lock);
    if (callback) callback(context, kind, offset, amount);
}

static int tee_close(sqlite3_file *f) {
    int rc = REAL(f)->pMethods ? REAL(f)->pMethods->xClose(REAL(f)) : SQLITE_OK;
    return rc;
}
static int tee_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off) { return REAL(f)->pMethods->xRead(REAL(f), buf, amt, off); }
static int tee_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off) {
    int rc = REAL(f)->pMethods->xWrite(REAL(f), buf, amt, off);
    if (rc == SQLITE_OK) tee_report(f, 0, off, amt);
    return rc;
}
static int tee_truncate(sqlite3_file *f, sqlite3_int64 size) {
    int rc = REAL(f)->pMethods->xTruncate(REAL(f), size);
    if (rc == SQLITE_OK) tee_report(f, 1, 0, size);
    return rc;
}
static int tee_sync(sqlite3_file *f, int flags) { return REAL(f)->pMethods->xSync(REAL(f), flags); }
static int tee_file_size(sqlite3_file *f, sqlite3_int64 *size) { return REAL(f)->pMethods->xFileSize(REAL(f), size); }
static int tee_lock_fn(sqlite3_file *f, int level) { return REAL(f)->pMethods->xLock(REAL(f), level); }
static int tee_unlock(sqlite3_file *f, int level) { return REAL(f)->pMethods->xUnlock(REAL(f), level); }
static int tee_check_reserved(sqlite3_file *f, int *out) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out); }
static int tee_file_control(sqlite3_file *f, int op, void *arg) { return REAL(f)->pMethods->xFileControl(REAL(f), op, arg); }
static int tee_sector_size(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int tee_device_characteristics(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int tee_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **pp) { return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, extend, pp); }
static int tee_shm_lock(sqlite3_file *f, int offset, int n, int flags) { return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags); }
static void tee_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int tee_shm_unmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }
/* No memory-mapped access through this VFS: every write must pass through xWrite. */
static int tee_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp) { (void)f; (void)off; (void)amt; *pp = 0; return SQLITE_OK; }
static int tee_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p) { (void)f; (void)off; (void)p; return SQLITE_OK; }

static const sqlite3_io_methods tee_methods = {
    3, tee_close, tee_read, tee_write, tee_truncate, tee_sync, tee_file_size, tee_lock_fn, tee_unlock,
    tee_check_reserved, tee_file_control, tee_sector_size, tee_device_characteristics,
    tee_shm_map, tee_shm_lock, tee_shm_barrier, tee_shm_unmap, tee_fetch, tee_unfetch
};

static int tee_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags) {
    (void)vfs;
    TeeFile *tee = (TeeFile *)f;
    tee->real = (sqlite3_file *)&tee[1];
    tee->slot = -1;
    tee->generation = 0;
    int rc = real_vfs->xOpen(real_vfs, name, tee->real, flags, out_flags);
    if (tee->real->pMethods == 0) {
        f->pMethods = 0;
        return rc;
    }
    if ((flags & SQLITE_OPEN_MAIN_DB) && name) {
        /* Compared by device and inode: SQLite hands xOpen its own full path name, which need
         * not be spelled like the caller's. */
        struct stat st;
        if (stat(name, &st) == 0) {
            pthread_mutex_lock(&tee_lock);
            for (int i = 0; i < TEE_SLOTS; i++) {
                if (watches[i].used && watches[i].dev == st.st_dev && watches[i].ino == st.st_ino) {
                    tee->slot = i;
                    tee->generation = watches[i].generation;
                    break;
                }
            }
            pthread_mutex_unlock(&tee_lock);
        }
    }
    f->pMethods = &tee_methods;
    return rc;
}

static int tee_delete(sqlite3_vfs *v, const char *n, int s) { (void)v; return real_vfs->xDelete(real_vfs, n, s); }
static int tee_access(sqlite3_vfs *v, const char *n, int fl, int *o) { (void)v; return real_vfs->xAccess(real_vfs, n, fl, o); }
static int tee_full_pathname(sqlite3_vfs *v, const char *n, int sz, char *o) { (void)v; return real_vfs->xFullPathname(real_vfs, n, sz, o); }
static void *tee_dl_open(sqlite3_vfs *v, const char *n) { (void)v; return real_vfs->xDlOpen(real_vfs, n); }
static void tee_dl_error(sqlite3_vfs *v, int n, char *m) { (void)v; real_vfs->xDlError(real_vfs, n, m); }
static void (*tee_dl_sym(sqlite3_vfs *v, void *h, const char *s))(void) { (void)v; return real_vfs->xDlSym(real_vfs, h, s); }
static void tee_dl_close(sqlite3_vfs *v, void *h) { (void)v; real_vfs->xDlClose(real_vfs, h); }
static int tee_randomness(sqlite3_vfs *v, int n, char *o) { (void)v; return real_vfs->xRandomness(real_vfs, n, o); }
static int tee_sleep(sqlite3_vfs *v, int us) { (void)v; return real_vfs->xSleep(real_vfs, us); }
static int tee_current_time(sqlite3_vfs *v, double *t) { (void)v; return real_vfs->xCurrentTime(real_vfs, t); }
static int tee_get_last_error(sqlite3_vfs *v, int n, char *m) { (void)v; return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, n, m) : 0; }
static int tee_current_time_int64(sqlite3_vfs *v, sqlite3_int64 *t) { (void)v; return real_vfs->xCurrentTimeInt64(real_vfs, t); }

static int register_result = SQLITE_OK;

static void tee_init(void) {
    real_vfs = sqlite3_vfs_find(0);
    if (!real_vfs) { register_result = SQLITE_ERROR; return; }
    memset(&tee_vfs, 0, sizeof tee_vfs);
    tee_vfs.iVersion = 2;
    tee_vfs.szOsFile = (int)sizeof(TeeFile) + real_vfs->szOsFile;
    tee_vfs.mxPathname = real_vfs->mxPathname;
    tee_vfs.zName = "ptc-tee";
    tee_vfs.xOpen = tee_open;
    tee_vfs.xDelete = tee_delete;
    tee_vfs.xAccess = tee_access;
    tee_vfs.xFullPathname = tee_full_pathname;
    tee_vfs.xDlOpen = tee_dl_open;
    tee_vfs.xDlError = tee_dl_error;
    tee_vfs.xDlSym = tee_dl_sym;
    tee_vfs.xDlClose = tee_dl_close;
    tee_vfs.xRandomness = tee_randomness;
    tee_vfs.xSleep = tee_sleep;
    tee_vfs.xCurrentTime = tee_current_time;
    tee_vfs.xGetLastError = tee_get_last_error;
    tee_vfs.xCurrentTimeInt64 = tee_current_time_int64;
    register_result = sqlite3_vfs_register(&tee_vfs, 0);
}

int cbk_tee_register(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, tee_init);
    return register_result;
}

int cbk_tee_watch(const char *path, cbk_tee_callback callback, void *context, int *slot) {
    struct stat st;
    if (stat(path, &st) != 0) return SQLITE_CANTOPEN;
    pthread_mutex_lock(&tee_lock);
    for (int i = 0; i < TEE_SLOTS; i++) {
        if (!watches[i].used) {
            watches[i].used = 1;
            watches[i].generation += 1;
            watches[i].dev = st.st_dev;
            watches[i].ino = st.st_ino;
            watches[i].callback = callback;
            watches[i].context = context;
            *slot = i;
            pthread_mutex_unlock(&tee_lock);
            return SQLITE_OK;
        }
    }
    pthread_mutex_unlock(&tee_lock);
    return SQLITE_BUSY;
}

void cbk_tee_unwatch(int slot) {
    if (slot < 0 || slot >= TEE_SLOTS) return;
    pthread_mutex_lock(&tee_lock);
    watches[slot].used = 0;
    watches[slot].callback = 0;
    watches[slot].context = 0;
    pthread_mutex_unlock(&tee_lock);
}

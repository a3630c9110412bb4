/* Run locks: a second run on the same --state or --out refuses while the first runs. The lock is an
 * flock on PATH.lock (a sibling, holding the holder's pid), so a killed holder's lock goes with its
 * process; the holder removes the file when it releases it. Rank-local (rank 0 takes them; the
 * outcome is agreed by the caller). */
#ifndef DEPTHFUSE_LOCK_H
#define DEPTHFUSE_LOCK_H

/* lock PATH for this process (again: a no-op); -1 + df_fail naming the path and the holder's pid */
int df_lock(const char *path);
/* releases every lock this process holds and removes the lock files */
void df_unlock_all(void);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fileio: the two steps of writing a file that survives a crash, shared by
 * the modules that keep state on disk (certs, netstate, resolvconf): write
 * every byte, and after the rename fsync the directory that holds it.
 */
#ifndef TELEPOD_COMMON_FILEIO_H
#define TELEPOD_COMMON_FILEIO_H

#include <stddef.h>

/*
 * Writes all len bytes of buf to fd (a blocking file descriptor), going on
 * after EINTR and short writes. Returns 0, or a negative errno (-EIO when
 * write() makes no progress); how much was written is then unknown.
 */
int fileio_write_all(int fd, const void *buf, size_t len);

/*
 * fsyncs the directory holding path ("." for a bare name, "/" for "/x"),
 * so that a rename, link or unlink of path is on disk. Returns 0 or a
 * negative errno; callers may ignore it: only durability is in doubt.
 */
int fileio_sync_dir(const char *path);

#endif

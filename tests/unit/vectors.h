/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vectors: loads proto/vectors (MANIFEST and the .bin files) for the unit
 * tests. The directory is found through the environment variable
 * top_srcdir (set by make check), falling back to "..".
 */
#ifndef TELEPOD_TESTS_UNIT_VECTORS_H
#define TELEPOD_TESTS_UNIT_VECTORS_H

#include <stddef.h>
#include <stdint.h>

/* Largest vector file accepted. */
#define VECTORS_MAX_FILE (1024u * 1024u)

struct vector {
	char name[128];  /* file name, e.g. "ping.bin" */
	char kind[32];   /* valid, invalid, valid-session, invalid-session */
	char expect[32]; /* type name, error name or OK */
	char scope[16];  /* invalid-session: "reset" or "goaway"; else "" */
	uint8_t *data;   /* exactly len bytes (owned) */
	size_t len;
};

/* Returns the source tree's top directory. */
const char *vectors_srcdir(void);

/*
 * Reads a whole file of at most max bytes into a buffer of exactly its size
 * (so that ASan reports any read past the end). Caller frees *ret_buf.
 * Returns 0, -EFBIG or a negative errno.
 */
int vectors_read_file(
    const char *path, size_t max, uint8_t **ret_buf, size_t *ret_len);

/* Loads every vector the MANIFEST names. Caller frees with vectors_free().
 * Returns 0 or a negative errno (a missing file, a malformed line). */
int vectors_load(struct vector **ret_vectors, size_t *ret_n);
void vectors_free(struct vector *v, size_t n);

/* Returns the code of an error name ("REFUSED") or -1. */
int vectors_error_code(const char *name);
/* Returns the code of a frame type name ("DATA") or -1. */
int vectors_type_code(const char *name);

#endif

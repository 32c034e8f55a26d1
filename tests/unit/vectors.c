/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vectors: the loader of proto/vectors shared by the codec and framebuf
 * tests (and usable by session tests that replay the session sequences).
 * MANIFEST lines are "FILE KIND EXPECT [SCOPE]"; '#' starts a comment
 * line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/wire.h"
#include "tests/unit/vectors.h"

const char *
vectors_srcdir(void)
{
	const char *d = getenv("top_srcdir");

	return d && *d ? d : "..";
}

int
vectors_read_file(
    const char *path, size_t max, uint8_t **ret_buf, size_t *ret_len)
{
	FILE *f;
	uint8_t *buf = NULL;
	long size;
	int ret = 0;

	f = fopen(path, "rb");
	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		ret = -EIO;
		goto out;
	}
	if ((unsigned long)size > max) {
		ret = -EFBIG;
		goto out;
	}
	buf = malloc(size ? (size_t)size : 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	if (size && fread(buf, 1, (size_t)size, f) != (size_t)size) {
		ret = -EIO;
		goto out;
	}
	*ret_buf = buf;
	*ret_len = (size_t)size;
	buf = NULL;
out:
	free(buf);
	fclose(f);
	return ret;
}

void
vectors_free(struct vector *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i].data);
	free(v);
}

int
vectors_load(struct vector **ret_vectors, size_t *ret_n)
{
	char path[4096], line[512];
	struct vector *v = NULL, *grown;
	size_t n = 0, cap = 0;
	FILE *f;
	int ret = 0;

	snprintf(
	    path, sizeof(path), "%s/proto/vectors/MANIFEST", vectors_srcdir());
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		struct vector *e;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(v, cap * sizeof(*v));
			if (!grown) {
				ret = -ENOMEM;
				goto out;
			}
			v = grown;
		}
		e = &v[n];
		memset(e, 0, sizeof(*e));
		if (sscanf(line, "%127s %31s %31s %15s", e->name, e->kind,
		        e->expect, e->scope) < 3) {
			ret = -EINVAL;
			goto out;
		}
		snprintf(path, sizeof(path), "%s/proto/vectors/%s",
		    vectors_srcdir(), e->name);
		ret = vectors_read_file(
		    path, VECTORS_MAX_FILE, &e->data, &e->len);
		if (ret < 0)
			goto out;
		n++;
	}
	*ret_vectors = v;
	*ret_n = n;
	v = NULL;
out:
	vectors_free(v, n);
	fclose(f);
	return ret;
}

int
vectors_error_code(const char *name)
{
	/* wire_error_name() answers "UNKNOWN" for every unassigned code. */
	if (!strcmp(name, "UNKNOWN"))
		return -1;
	for (int code = 0; code < 256; code++)
		if (!strcmp(wire_error_name((uint32_t)code), name))
			return code;
	return -1;
}

int
vectors_type_code(const char *name)
{
	for (int code = 0; code < 256; code++) {
		const char *t = wire_type_name((uint8_t)code);

		if (t && !strcmp(t, name))
			return code;
	}
	return -1;
}

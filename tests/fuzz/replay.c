/* SPDX-License-Identifier: Apache-2.0 */
/*
 * replay: a main() for libFuzzer targets in make check. It runs the target
 * once over every file of proto/vectors (found through top_srcdir) and
 * over every file named on the command line (e.g. a crash input), so the
 * targets keep building with the normal compiler and their checks run
 * under the plain and the sanitizer builds without clang's libFuzzer.
 * Built with -DREPLAY_SEEDS='"NAME"', it also runs every file of
 * tests/fuzz/seeds/NAME/.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/vectors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs the target over one file: 0, or -1 after saying why not. */
static int
replay_file(const char *path)
{
	uint8_t *buf;
	size_t len;
	int ret = vectors_read_file(path, VECTORS_MAX_FILE, &buf, &len);

	if (ret < 0) {
		fprintf(stderr, "replay: cannot read %s: %s\n", path,
		    strerror(-ret));
		return -1;
	}
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

#ifdef REPLAY_SEEDS
/* Every file of tests/fuzz/seeds/REPLAY_SEEDS: how many, or -1. */
static int
replay_seeds(void)
{
	char dir[4096], path[4096 + 256];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/tests/fuzz/seeds/%s", vectors_srcdir(),
	    REPLAY_SEEDS);
	d = opendir(dir);
	if (d == NULL) {
		fprintf(stderr, "replay: cannot open %s: %s\n", dir,
		    strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (replay_file(path) < 0) {
			closedir(d);
			return -1;
		}
		n++;
	}
	closedir(d);
	return n;
}
#endif

int
main(int argc, char **argv)
{
	struct vector *v = NULL;
	size_t n = 0;
	int ret;

	ret = vectors_load(&v, &n);
	if (ret < 0) {
		fprintf(stderr, "replay: cannot load %s/proto/vectors: %s\n",
		    vectors_srcdir(), strerror(-ret));
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		LLVMFuzzerTestOneInput(v[i].data, v[i].len);
	vectors_free(v, n);
	for (int i = 1; i < argc; i++)
		if (replay_file(argv[i]) < 0)
			return 1;
#ifdef REPLAY_SEEDS
	ret = replay_seeds();
	if (ret < 0)
		return 1;
	printf("replay: %zu vectors, %d seeds of %s and %d files ran clean\n",
	    n, ret, REPLAY_SEEDS, argc - 1);
#else
	printf("replay: %zu vectors and %d files ran clean\n", n, argc - 1);
#endif
	return 0;
}

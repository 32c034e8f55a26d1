/* SPDX-License-Identifier: Apache-2.0 */
/*
 * replay: a main() for libFuzzer targets in make check. It runs the target
 * once over every file of proto/vectors (found through top_srcdir) and
 * over every file named on the command line (e.g. a crash input), so the
 * targets keep building with the normal compiler and their checks run
 * under the plain and the sanitizer builds without clang's libFuzzer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/vectors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	for (int i = 1; i < argc; i++) {
		uint8_t *buf;
		size_t len;

		ret = vectors_read_file(argv[i], VECTORS_MAX_FILE, &buf, &len);
		if (ret < 0) {
			fprintf(stderr, "replay: cannot read %s: %s\n", argv[i],
			    strerror(-ret));
			return 1;
		}
		LLVMFuzzerTestOneInput(buf, len);
		free(buf);
	}
	printf("replay: %zu vectors and %d files ran clean\n", n, argc - 1);
	return 0;
}

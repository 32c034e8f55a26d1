/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of common/fileio: writing everything (a file, a pipe that
 * takes it in pieces, a closed descriptor) and which directory
 * fileio_sync_dir opens for a path.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fileio.h"
#include "tests/unit/cunit_main.h"

static char dir[64];

static void
test_write_file(void)
{
	char path[128], back[32] = {0};
	int fd;

	snprintf(path, sizeof(path), "%s/f", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(fileio_write_all(fd, "hello, world", 12), 0);
	CU_ASSERT_EQUAL(fileio_write_all(fd, "", 0), 0);
	CU_ASSERT_EQUAL(pread(fd, back, sizeof(back) - 1, 0), 12);
	CU_ASSERT_STRING_EQUAL(back, "hello, world");
	close(fd);
	CU_ASSERT_EQUAL(unlink(path), 0);
}

static void
test_write_pipe(void)
{
	/* More than a pipe holds: a reader drains it while we write. */
	size_t len = 1 << 20, got = 0;
	char *buf = malloc(len), *in = malloc(len);
	int p[2];
	pid_t pid;

	CU_ASSERT_FATAL(buf != NULL && in != NULL);
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(i * 7);
	CU_ASSERT_FATAL(pipe(p) == 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		_exit(fileio_write_all(p[1], buf, len) == 0 ? 0 : 1);
	}
	close(p[1]);
	for (;;) {
		ssize_t n = read(p[0], in + got, len - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(p[0]);
	{
		int status = -1;

		waitpid(pid, &status, 0);
		CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	CU_ASSERT_EQUAL(got, len);
	CU_ASSERT_EQUAL(memcmp(buf, in, len), 0);
	free(buf);
	free(in);
}

static void
test_write_errors(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(fileio_write_all(fd, "x", 1), -EBADF);
	close(fd);
	CU_ASSERT_EQUAL(fileio_write_all(fd, "x", 1), -EBADF);
}

static void
test_sync_dir(void)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/file", dir);
	CU_ASSERT_EQUAL(fileio_sync_dir(path), 0);
	CU_ASSERT_EQUAL(fileio_sync_dir("bare-name"), 0); /* "." */
	CU_ASSERT_EQUAL(fileio_sync_dir("/etc"), 0);      /* "/" */
	snprintf(path, sizeof(path), "%s/missing/file", dir);
	CU_ASSERT_EQUAL(fileio_sync_dir(path), -ENOENT);
	/* The holder must be a directory. */
	snprintf(path, sizeof(path), "%s/plain", dir);
	CU_ASSERT_FATAL(close(open(path, O_WRONLY | O_CREAT, 0600)) == 0);
	snprintf(path, sizeof(path), "%s/plain/file", dir);
	CU_ASSERT_EQUAL(fileio_sync_dir(path), -ENOTDIR);
	snprintf(path, sizeof(path), "%s/plain", dir);
	CU_ASSERT_EQUAL(unlink(path), 0);
	/* A directory part longer than PATH_MAX is refused, not cut. */
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 6] = '/';
	path[sizeof(path) - 1] = '\0';
	CU_ASSERT_EQUAL(fileio_sync_dir(path), -ENAMETOOLONG);
}

static const struct cunit_test tests[] = {
    {"write_file", test_write_file},
    {"write_pipe", test_write_pipe},
    {"write_errors", test_write_errors},
    {"sync_dir", test_sync_dir},
};

int
main(void)
{
	int r;

	snprintf(dir, sizeof(dir), "/tmp/telepod-fileio-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 99;
	r = cunit_run(
	    "fileio", NULL, NULL, tests, sizeof(tests) / sizeof(*tests));
	if (rmdir(dir) < 0) {
		fprintf(stderr, "test_fileio: %s not empty\n", dir);
		r = 1;
	}
	return r;
}

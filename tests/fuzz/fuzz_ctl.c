/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_ctl: libFuzzer target for the daemon's end of the control protocol
 * (client/ctl.c). Each input is what a local user could write to the
 * control socket: it is sent over a real unix connection to a ctl server on
 * its own event_base, the writing side is shut, and the loop turns until the
 * server has answered everything and closed. The handlers answer at once,
 * with progress lines, from a timer, or after reading typed members, so
 * line framing, the size limits, JSON parsing, dispatch and the client
 * handle's lifetime all see hostile input. Every input is also split into
 * lines for ctl_parse_request directly.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "client/ctl.h"
#include "common/log.h"

/* Inputs stay below what one socket buffer holds in flight comfortably. */
#define FUZZ_CTL_MAX_INPUT (CTL_REQUEST_MAX + 4096)

static struct event_base *fz_base;
static struct ctl_server *fz_srv;
static char fz_dir[64];
static char fz_path[128];

static void
h_echo(struct ctl_client *c, const struct ctl_peer *peer, const cJSON *req,
    void *arg)
{
	cJSON *o = ctl_ok_new();

	if (o)
		cJSON_AddItemToObject(o, "echo", cJSON_Duplicate(req, true));
	ctl_reply(c, o, true);
}

static void
h_fields(struct ctl_client *c, const struct ctl_peer *peer, const cJSON *req,
    void *arg)
{
	const char *ns = NULL, *server = NULL;
	bool no_tun = false;
	long timeout = 0;

	if (ctl_get_string(req, "namespace", 63, &ns) < 0 ||
	    ctl_get_string(req, "server", 261, &server) < 0 ||
	    ctl_get_bool(req, "no_tun", false, &no_tun) < 0 ||
	    ctl_get_int(req, "timeout_s", 1, 600, 30, &timeout) < 0) {
		ctl_reply_error(c, CTL_E_BAD_REQUEST, "bad member");
		return;
	}
	if (ns && !ctl_valid_namespace(ns)) {
		ctl_reply_error(c, CTL_E_BAD_REQUEST, "bad namespace");
		return;
	}
	ctl_reply(c, ctl_ok_new(), true);
}

static void
h_progress(struct ctl_client *c, const struct ctl_peer *peer, const cJSON *req,
    void *arg)
{
	cJSON *p = cJSON_CreateObject();

	if (p)
		cJSON_AddStringToObject(p, "progress", "connecting");
	ctl_reply(c, p, false);
	ctl_reply(c, ctl_error_new(CTL_E_TIMEOUT, "gave up"), true);
}

static void
later_cb(evutil_socket_t fd, short what, void *arg)
{
	ctl_reply(arg, ctl_ok_new(), true);
}

static void
h_later(struct ctl_client *c, const struct ctl_peer *peer, const cJSON *req,
    void *arg)
{
	struct timeval zero = {0, 0};

	/* One-shot: event_base_once frees its event after the callback. */
	if (event_base_once(fz_base, -1, EV_TIMEOUT, later_cb, c, &zero) < 0)
		ctl_reply(c, NULL, true);
}

static const struct ctl_command fz_commands[] = {
    {"echo", h_echo},
    {"connect", h_fields},
    {"progress", h_progress},
    {"later", h_later},
};
static const struct ctl_handlers fz_handlers = {
    fz_commands, sizeof(fz_commands) / sizeof(*fz_commands)};

static void
fz_cleanup(void)
{
	ctl_server_free(fz_srv);
	if (fz_base)
		event_base_free(fz_base);
	unlink(fz_path);
	rmdir(fz_dir);
}

static void
fz_init(void)
{
	char err[256];

	signal(SIGPIPE, SIG_IGN);
	log_init("fuzz_ctl", LOG_LEVEL_ERR);
	snprintf(fz_dir, sizeof(fz_dir), "/tmp/fuzz_ctl.XXXXXX");
	if (!mkdtemp(fz_dir))
		abort();
	snprintf(fz_path, sizeof(fz_path), "%s/ctl.sock", fz_dir);
	fz_base = event_base_new();
	fz_srv = ctl_server_new(fz_base, fz_path, 0600, (gid_t)-1, &fz_handlers,
	    NULL, err, sizeof(err));
	if (!fz_base || !fz_srv) {
		fprintf(stderr, "fuzz_ctl: %s\n", err);
		abort();
	}
	atexit(fz_cleanup);
}

/* The pure parser, line by line as the server splits them. */
static void
fz_parse_lines(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *why = NULL;
		cJSON *req = NULL;

		if (ctl_parse_request(p, len, &req, &why) == 0) {
			if (!cJSON_IsString(cJSON_GetObjectItem(req, "cmd")))
				abort();
			cJSON_Delete(req);
		} else if (!why || req) {
			abort();
		}
		p += len + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t off = 0;
	bool shut = false;
	int fd;

	if (size > FUZZ_CTL_MAX_INPUT)
		return 0;
	if (!fz_base)
		fz_init();
	fz_parse_lines(data, size);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", fz_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		abort();
	/* Write, shut, and read answers until the server hangs up. */
	for (int turns = 0;; turns++) {
		char buf[65536];
		ssize_t n;

		if (turns > 100000) {
			fprintf(stderr, "fuzz_ctl: the server never closed\n");
			abort();
		}
		if (off < size) {
			n = send(fd, data + off, size - off, MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				off = size; /* the server closed early */
		}
		if (off == size && !shut) {
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		event_base_loop(fz_base, EVLOOP_NONBLOCK);
		n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EAGAIN))
			break;
	}
	close(fd);
	/* Let the server reap the connection before the next input. */
	for (int turns = 0; ctl_server_clients(fz_srv) > 0; turns++) {
		if (turns > 100000)
			abort();
		event_base_loop(fz_base, EVLOOP_NONBLOCK);
	}
	return 0;
}

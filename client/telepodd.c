/* SPDX-License-Identifier: Apache-2.0 */
/*
 * telepodd: the telepod daemon on a developer's machine. It serves the
 * `telepod` CLI on a unix control socket, holds one TLS tunnel session per
 * connected namespace and offers a SOCKS5 entry into them. This file is
 * the process: options, daemonizing, signals, the pidfile; the state lives
 * in client/daemon.
 *
 * Without --foreground the process forks after parsing its options; the
 * child sets everything up and tells the parent through a pipe whether it
 * is listening, so `telepodd` returns only once the daemon is usable (or
 * prints why it is not and exits 1).
 *
 * Before it listens, telepodd takes the netstate ledger in its state
 * directory (an exclusive lock: one daemon per directory) and undoes what
 * a killed predecessor left: its TUN device, routes and resolver change.
 * Without the ledger (another daemon holds the directory, or it cannot be
 * created) the daemon still runs, with TUN mode off.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "client/ctl.h"
#include "client/daemon.h"
#include "client/netstate.h"
#include "client/resolvconf.h"
#include "common/evloop.h"
#include "common/log.h"

#define TELEPODD_DEFAULT_SOCKS     "127.0.0.1:1080"
#define TELEPODD_DEFAULT_STATE_DIR "/run/telepod"
#define TELEPODD_LEDGER_NAME       "netstate.json"
/* After SIGTERM, sessions drain for at most this long. */
#define TELEPODD_STOP_DEADLINE_S 5

struct telepodd_opts {
	bool foreground;
	const char *socket_path;
	const char *socks_addr;
	const char *pidfile;
	const char *log_file;
	const char *group;
	const char *state_dir;
	enum resolvconf_method resolver;
	uint32_t busy_poll_us;
	bool no_fast_path;
	bool no_yield;
	enum log_level level;
	unsigned debug;
};

struct telepodd {
	struct event_base *base;
	struct daemon *daemon;
	struct event *sigterm;
	struct event *sigint;
	struct event *deadline;
	struct netstate *ledger;
	bool stopping;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: telepodd [--foreground] [--socket PATH] [--socks IP:PORT]\n"
	    "                [--log-level LEVEL] [--debug=CATS] [--pidfile PATH]\n"
	    "                [--log-file PATH] [--group NAME] [--state-dir DIR]\n"
	    "                [--resolver auto|file|systemd-resolved]\n"
	    "                [--busy-poll USECS] [--no-fast-path] [--no-yield]\n"
	    "\n"
	    "The telepod daemon: holds the TLS tunnel sessions to telepod-server\n"
	    "that `telepod connect` asks for, and a SOCKS5 entry into them.\n"
	    "\n"
	    "  --foreground      stay in the foreground (systemd, launchd, tests)\n"
	    "  --socket PATH     control socket (default %s)\n"
	    "  --socks IP:PORT   SOCKS5 entry (default %s; port 0 picks one,\n"
	    "                    shown by `telepod status`)\n"
	    "  --log-level L     err, warn, info (default) or debug\n"
	    "  --debug=CATS      debug categories: mux,dns,tun,tls,kube,ctl,all\n"
	    "  --pidfile PATH    write the process id there\n"
	    "  --log-file PATH   log there instead of stderr\n"
	    "  --group NAME      give the control socket this group (mode 0660)\n"
	    "  --state-dir DIR   the ledger of changes to the network (TUN device,\n"
	    "                    routes, resolver), undone at the next start after\n"
	    "                    a crash, and a copy of the original resolv.conf\n"
	    "                    (default %s; one daemon per directory)\n"
	    "  --resolver HOW    how to point cluster names at telepodd's DNS:\n"
	    "                    auto (systemd-resolved split DNS where it runs,\n"
	    "                    else rewrite /etc/resolv.conf; the default), file\n"
	    "                    or systemd-resolved\n"
	    "  --busy-poll USECS after a wake-up, keep polling for events up to\n"
	    "                    USECS (at most 1000) before sleeping, while events\n"
	    "                    come that close: lower latency for more CPU\n"
	    "                    (default %u: never poll)\n"
	    "  --no-fast-path    keep the TUN device's kernel fast path (a BPF\n"
	    "                    classifier that hands established connections'\n"
	    "                    packets straight back to the kernel) off: every\n"
	    "                    packet then goes through telepodd (slower)\n"
	    "  --no-yield        never give the CPU up to the applications just\n"
	    "                    handed data (by default telepodd does, once per\n"
	    "                    batch from the tunnel that fed several, so they\n"
	    "                    answer before it reads on)\n",
	    CTL_DEFAULT_SOCKET, TELEPODD_DEFAULT_SOCKS,
	    TELEPODD_DEFAULT_STATE_DIR, EVLOOP_DEFAULT_POLL_US);
}

static int
parse_opts(int argc, char **argv, struct telepodd_opts *o)
{
	static const struct option longopts[] = {
	    {"foreground", no_argument, NULL, 'f'},
	    {"socket", required_argument, NULL, 's'},
	    {"socks", required_argument, NULL, 'S'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"debug", required_argument, NULL, 'd'},
	    {"pidfile", required_argument, NULL, 'p'},
	    {"log-file", required_argument, NULL, 'L'},
	    {"group", required_argument, NULL, 'g'},
	    {"state-dir", required_argument, NULL, 'D'},
	    {"resolver", required_argument, NULL, 'R'},
	    {"busy-poll", required_argument, NULL, 'B'},
	    {"no-fast-path", no_argument, NULL, 'F'},
	    {"no-yield", no_argument, NULL, 'Y'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->socket_path = CTL_DEFAULT_SOCKET;
	o->socks_addr = TELEPODD_DEFAULT_SOCKS;
	o->level = LOG_LEVEL_INFO;
	o->state_dir = TELEPODD_DEFAULT_STATE_DIR;
	o->resolver = RESOLVCONF_DETECT;
	o->busy_poll_us = EVLOOP_DEFAULT_POLL_US;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			o->foreground = true;
			break;
		case 's':
			o->socket_path = optarg;
			break;
		case 'S':
			o->socks_addr = optarg;
			break;
		case 'l':
			if (log_parse_level(optarg, &o->level) < 0) {
				fprintf(stderr,
				    "telepodd: unknown log level \"%s\"; use err, warn, info or debug\n",
				    optarg);
				return 2;
			}
			break;
		case 'd':
			if (log_parse_debug(optarg, &o->debug) < 0) {
				fprintf(stderr,
				    "telepodd: unknown debug category in \"%s\"; use mux,dns,tun,tls,kube,ctl or all\n",
				    optarg);
				return 2;
			}
			o->level = LOG_LEVEL_DEBUG;
			break;
		case 'p':
			o->pidfile = optarg;
			break;
		case 'L':
			o->log_file = optarg;
			break;
		case 'g':
			o->group = optarg;
			break;
		case 'D':
			if (optarg[0] != '/' || strlen(optarg) > 200) {
				fprintf(stderr,
				    "telepodd: --state-dir needs an absolute directory path of at most 200 bytes\n");
				return 2;
			}
			o->state_dir = optarg;
			break;
		case 'R':
			if (strcmp(optarg, "auto") == 0)
				o->resolver = RESOLVCONF_DETECT;
			else if (strcmp(optarg, "file") == 0)
				o->resolver = RESOLVCONF_FILE;
			else if (strcmp(optarg, "systemd-resolved") == 0)
				o->resolver = RESOLVCONF_RESOLVED;
			else {
				fprintf(stderr,
				    "telepodd: unknown --resolver \"%s\"; use auto, file or systemd-resolved\n",
				    optarg);
				return 2;
			}
			break;
		case 'B':
			if (evloop_parse_poll(optarg, &o->busy_poll_us) < 0) {
				fprintf(stderr,
				    "telepodd: --busy-poll \"%s\" is not a number of microseconds 0..%u\n",
				    optarg, EVLOOP_MAX_POLL_US);
				return 2;
			}
			break;
		case 'F':
			o->no_fast_path = true;
			break;
		case 'Y':
			o->no_yield = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("telepodd %s\n", PACKAGE_VERSION);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "telepodd: unexpected argument \"%s\"\n",
		    argv[optind]);
		usage(stderr);
		return 2;
	}
	if (o->socket_path[0] == '\0') {
		fprintf(stderr, "telepodd: --socket needs a path\n");
		return 2;
	}
	return 0;
}

static void
stopped_cb(void *arg)
{
	struct telepodd *t = arg;

	event_base_loopexit(t->base, NULL);
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct telepodd *t = arg;

	log_warn("sessions did not close within %d s; exiting anyway",
	    TELEPODD_STOP_DEADLINE_S);
	event_base_loopexit(t->base, NULL);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct telepodd *t = arg;
	struct timeval tv = {TELEPODD_STOP_DEADLINE_S, 0};

	if (t->stopping) {
		log_info("second signal: exiting now");
		event_base_loopexit(t->base, NULL);
		return;
	}
	t->stopping = true;
	log_info("%s: closing sessions and exiting",
	    sig == SIGTERM ? "SIGTERM" : "SIGINT");
	event_add(t->deadline, &tv);
	daemon_stop(t->daemon, stopped_cb, t);
}

static int
write_pidfile(const char *path)
{
	char buf[32];
	int fd, n, r = 0;

	fd = open(
	    path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)n) != n)
		r = -EIO;
	close(fd);
	return r;
}

/*
 * Takes the ledger in state_dir and undoes what an earlier daemon left.
 * Returns the ledger, or NULL (logged) when TUN mode must stay off: the
 * daemon is still useful with SOCKS5. A ledger that cannot be fully
 * recovered is kept (its records stay for the next start) with a warning.
 */
static struct netstate *
open_ledger(const char *state_dir)
{
	char path[256], err[NETSTATE_ERROR_MAX];
	struct netstate *ns = NULL;
	int r;

	snprintf(path, sizeof(path), "%s/%s", state_dir, TELEPODD_LEDGER_NAME);
	r = netstate_new(path, &ns, err, sizeof(err));
	if (r < 0) {
		log_warn("TUN mode is off: %s; connect with --no-tun, or give "
		         "this daemon its own --state-dir",
		    err);
		return NULL;
	}
	r = netstate_register(ns, RESOLVCONF_KIND, resolvconf_undo, NULL);
	if (r < 0) {
		log_warn(
		    "TUN mode is off: cannot register the resolver's undo: "
		    "%s",
		    strerror(-r));
		netstate_free(ns);
		return NULL;
	}
	r = netstate_recover(ns, err, sizeof(err));
	if (r == -EAGAIN)
		log_warn("some changes of an earlier telepodd could not be "
		         "undone (kept in %s for the next start): %s",
		    path, err);
	else if (r < 0)
		log_warn("recovering %s: %s", path, err);
	else
		log_debug(LOG_CAT_TUN, "ledger %s: nothing left to undo", path);
	return ns;
}

/* Forks; the parent waits for the child's word and exits with it. Returns
 * in the child the pipe's write end. */
static int
daemonize(void)
{
	int p[2], null;
	pid_t pid;
	char msg[1024];
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) < 0) {
		fprintf(stderr, "telepodd: pipe: %s\n", strerror(errno));
		exit(1);
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "telepodd: fork: %s\n", strerror(errno));
		exit(1);
	}
	if (pid > 0) {
		close(p[1]);
		n = read(p[0], msg, sizeof(msg) - 1);
		if (n == 1 && msg[0] == '\0')
			exit(0);
		if (n > 0) {
			msg[n] = '\0';
			fprintf(stderr, "telepodd: %s\n", msg);
		} else {
			fprintf(stderr,
			    "telepodd: the daemon exited during start-up\n");
		}
		exit(1);
	}
	close(p[0]);
	if (setsid() < 0)
		exit(1);
	if (chdir("/") < 0)
		exit(1);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	return p[1];
}

/* Reports the start-up result: to the waiting parent when detached (which
 * prints an error itself), else to the log. */
static void
report_start(int fd, const char *err)
{
	ssize_t n;

	if (fd < 0) {
		if (err)
			log_err("%s", err);
		return;
	}
	if (err)
		n = write(fd, err, strlen(err));
	else
		n = write(fd, "", 1);
	(void)n;
	close(fd);
}

int
main(int argc, char **argv)
{
	struct telepodd_opts o;
	struct telepodd t;
	struct daemon_config cfg;
	char err[1024];
	FILE *logf = NULL;
	int r, notify = -1, null;

	r = parse_opts(argc, argv, &o);
	if (r)
		return r;
	signal(SIGPIPE, SIG_IGN);
	log_init("telepodd", o.level);
	log_set_debug(o.debug);
	memset(&t, 0, sizeof(t));
	memset(&cfg, 0, sizeof(cfg));
	cfg.socket_path = o.socket_path;
	cfg.socks_addr = o.socks_addr;
	cfg.socket_mode = 0660;
	cfg.socket_gid = (gid_t)-1;
	if (o.group) {
		struct group *g = getgrnam(o.group);

		if (!g) {
			fprintf(stderr, "telepodd: no group \"%s\"\n", o.group);
			return 1;
		}
		cfg.socket_gid = g->gr_gid;
	}
	if (o.log_file) {
		logf = fopen(o.log_file, "ae");
		if (!logf) {
			fprintf(stderr, "telepodd: cannot open %s: %s\n",
			    o.log_file, strerror(errno));
			return 1;
		}
		setvbuf(logf, NULL, _IOLBF, 0);
		log_set_file(logf);
	}
	if (!o.foreground)
		notify = daemonize();

	t.base = event_base_new();
	if (!t.base) {
		report_start(notify, "cannot create the event loop");
		return 1;
	}
	t.ledger = open_ledger(o.state_dir);
	cfg.ledger = t.ledger;
	cfg.state_dir = o.state_dir;
	cfg.resolver = o.resolver;
	cfg.no_fast_path = o.no_fast_path;
	cfg.no_yield = o.no_yield;
	r = daemon_new(t.base, &cfg, &t.daemon, err, sizeof(err));
	if (r < 0) {
		report_start(notify, err);
		netstate_free(t.ledger);
		event_base_free(t.base);
		return 1;
	}
	t.sigterm = evsignal_new(t.base, SIGTERM, signal_cb, &t);
	t.sigint = evsignal_new(t.base, SIGINT, signal_cb, &t);
	t.deadline = evtimer_new(t.base, deadline_cb, &t);
	if (!t.sigterm || !t.sigint || !t.deadline ||
	    evsignal_add(t.sigterm, NULL) < 0 ||
	    evsignal_add(t.sigint, NULL) < 0) {
		report_start(notify, "cannot set up signal handling");
		return 1;
	}
	if (o.pidfile && (r = write_pidfile(o.pidfile)) < 0) {
		snprintf(err, sizeof(err), "cannot write the pidfile %s: %s",
		    o.pidfile, strerror(-r));
		report_start(notify, err);
		daemon_free(t.daemon);
		netstate_free(t.ledger);
		event_base_free(t.base);
		return 1;
	}
	if (notify >= 0 && !logf) {
		/* Detached: nobody reads stderr any more. */
		null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, STDERR_FILENO);
			close(null);
		}
	}
	report_start(notify, NULL);
	log_info("telepodd %s: control socket %s, SOCKS5 on %s",
	    PACKAGE_VERSION, o.socket_path, daemon_socks_address(t.daemon));

	evloop_run(t.base, o.busy_poll_us);

	daemon_free(t.daemon);
	netstate_free(t.ledger);
	if (o.pidfile)
		unlink(o.pidfile);
	event_free(t.sigterm);
	event_free(t.sigint);
	event_free(t.deadline);
	event_base_free(t.base);
	log_info("stopped");
	log_set_file(NULL);
	if (logf)
		fclose(logf);
	return 0;
}

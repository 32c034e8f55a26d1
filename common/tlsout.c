/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tlsout: batched, same-turn writes and read-ahead for TLS carriers (see
 * tlsout.h). The state lives in our writing BIO, so it is freed with the
 * SSL, that is with the bufferevent.
 */
#include "common/tlsout.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

/* OpenSSL's read buffer: four full records (plaintext plus TLS 1.3
 * overhead) per read() with read-ahead. */
#define TLSOUT_READ_BUFFER (4 * (TLSOUT_RECORD_MAX + 512))

struct tlsout {
	evutil_socket_t fd;
	SSL *ssl;               /* borrowed: it owns us through our BIO */
	struct evbuffer *plain; /* frames waiting to be encrypted */
	struct evbuffer *wire;  /* records waiting for the socket */
	struct event *flush_ev; /* made active by the first append */
	struct event *write_ev; /* EPOLLOUT, while the socket is full */
	void (*drain_cb)(void *arg);
	void *drain_arg;
	size_t lowat;
	struct bufferevent *bev; /* ours (tlsout_bind), for read triggers */
	bool hs_check; /* handshake just ended: look for read-ahead data */
	size_t sent;   /* written straight by the BIO during this flush */
	bool flushing; /* inside tlsout_flush: our own records, no event */
	bool failed;
};

static CRYPTO_ONCE tlsout_once = CRYPTO_ONCE_STATIC_INIT;
static BIO_METHOD *tlsout_method;
static int tlsout_type = -1;

static void
tlsout_schedule(struct tlsout *o)
{
	if (!o->flushing && !o->failed)
		event_active(o->flush_ev, EV_TIMEOUT, 0);
}

/* The connection is unusable: drop what waits and shut the socket down so
 * libevent's reader sees the end and reports it through the usual path. */
static void
tlsout_fail(struct tlsout *o)
{
	if (o->failed)
		return;
	o->failed = true;
	evbuffer_drain(o->plain, evbuffer_get_length(o->plain));
	evbuffer_drain(o->wire, evbuffer_get_length(o->wire));
	event_del(o->write_ev);
	shutdown(o->fd, SHUT_RDWR);
}

/* Writes what the socket takes of wire; false when it is full (EPOLLOUT
 * armed) or failed. Counts what went out in *wrote. */
static bool
tlsout_write_wire(struct tlsout *o, size_t *wrote)
{
	while (!o->failed && evbuffer_get_length(o->wire) > 0) {
		int w = evbuffer_write(o->wire, o->fd);

		if (w > 0) {
			*wrote += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(o->write_ev, NULL);
			return false;
		}
		tlsout_fail(o);
	}
	if (!o->failed)
		event_del(o->write_ev);
	return !o->failed;
}

/*
 * OpenSSL hands over one record (or handshake flight) at a time. With
 * nothing queued before it, it goes straight from OpenSSL's buffer to the
 * socket, which then carries each record as soon as it exists (the peer
 * decrypts one while we encrypt the next); what the socket does not take
 * is queued for EPOLLOUT.
 */
static int
tlsout_bio_write(BIO *b, const char *data, int len)
{
	struct tlsout *o = BIO_get_data(b);
	size_t done = 0;

	BIO_clear_retry_flags(b);
	if (o == NULL || len < 0 || o->failed)
		return -1;
	if (evbuffer_get_length(o->wire) == 0) {
		for (;;) {
			ssize_t n = send(o->fd, data + done, (size_t)len - done,
			    MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n > 0) {
				done += (size_t)n;
				o->sent += (size_t)n;
				if (done == (size_t)len)
					return len;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			tlsout_fail(o);
			return -1;
		}
	}
	if (evbuffer_add(o->wire, data + done, (size_t)len - done) < 0)
		return -1;
	event_add(o->write_ev, NULL);
	return len;
}

static int
tlsout_bio_puts(BIO *b, const char *str)
{
	size_t n = strlen(str);

	return tlsout_bio_write(b, str, n > INT_MAX ? INT_MAX : (int)n);
}

static long
tlsout_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct tlsout *o = BIO_get_data(b);

	switch (cmd) {
	case BIO_C_GET_FD:
		/* libevent finds the socket (and closes it) through this. */
		if (o == NULL)
			return -1;
		if (ptr != NULL)
			*(int *)ptr = (int)o->fd;
		return (long)o->fd;
	case BIO_CTRL_GET_CLOSE:
		return BIO_get_shutdown(b);
	case BIO_CTRL_SET_CLOSE:
		BIO_set_shutdown(b, (int)num);
		return 1;
	case BIO_CTRL_FLUSH:
		/* Written at the end of the turn; OpenSSL need not wait. */
		return 1;
	case BIO_CTRL_WPENDING:
		return o != NULL ? (long)evbuffer_get_length(o->wire) : 0;
	default:
		return 0;
	}
}

static int
tlsout_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static int
tlsout_bio_destroy(BIO *b)
{
	struct tlsout *o = BIO_get_data(b);

	if (o == NULL)
		return 1;
	BIO_set_data(b, NULL);
	event_free(o->flush_ev);
	event_free(o->write_ev);
	evbuffer_free(o->plain);
	evbuffer_free(o->wire);
	free(o);
	return 1;
}

static void
tlsout_init_once(void)
{
	int idx = BIO_get_new_index();
	BIO_METHOD *m;

	if (idx < 0)
		return;
	m = BIO_meth_new(idx | BIO_TYPE_SOURCE_SINK, "telepod carrier out");
	if (m == NULL)
		return;
	if (!BIO_meth_set_write(m, tlsout_bio_write) ||
	    !BIO_meth_set_puts(m, tlsout_bio_puts) ||
	    !BIO_meth_set_ctrl(m, tlsout_bio_ctrl) ||
	    !BIO_meth_set_create(m, tlsout_bio_create) ||
	    !BIO_meth_set_destroy(m, tlsout_bio_destroy)) {
		BIO_meth_free(m);
		return;
	}
	tlsout_method = m;
	tlsout_type = idx | BIO_TYPE_SOURCE_SINK;
}

static struct tlsout *
tlsout_of(struct bufferevent *bev)
{
	SSL *ssl;
	BIO *b;

	if (bev == NULL || tlsout_type < 0)
		return NULL;
	ssl = bufferevent_openssl_get_ssl(bev);
	if (ssl == NULL)
		return NULL;
	b = SSL_get_wbio(ssl);
	if (b == NULL || BIO_method_type(b) != tlsout_type)
		return NULL;
	return BIO_get_data(b);
}

/* Encrypts what waits, a record at a time, while the socket keeps up;
 * only full records unless all. */
static void
tlsout_encrypt(struct tlsout *o, bool all, size_t *wrote)
{
	bool was = o->flushing;

	o->flushing = true;
	while (tlsout_write_wire(o, wrote) &&
	       evbuffer_get_length(o->plain) >= (all ? 1 : TLSOUT_RECORD_MAX) &&
	       SSL_is_init_finished(o->ssl)) {
		size_t n = evbuffer_get_length(o->plain);
		void *p;
		int r;

		/* One record's worth, contiguous: small frames of several
		 * streams are gathered into it. */
		if (n > TLSOUT_RECORD_MAX)
			n = TLSOUT_RECORD_MAX;
		p = evbuffer_pullup(o->plain, (ev_ssize_t)n);
		if (p == NULL) {
			tlsout_fail(o);
			break;
		}
		ERR_clear_error();
		r = SSL_write(o->ssl, p, (int)n);
		if (r <= 0) {
			/* Our BIO never asks to retry: a real failure. */
			ERR_clear_error();
			tlsout_fail(o);
			break;
		}
		evbuffer_drain(o->plain, (size_t)r);
	}
	o->flushing = was;
}

/* Everything that waits, then tells the session (last: the callback may
 * free everything). */
static void
tlsout_flush(struct tlsout *o)
{
	size_t wrote = 0;

	o->sent = 0;
	tlsout_encrypt(o, true, &wrote);
	wrote += o->sent;
	if (wrote > 0 && o->drain_cb != NULL &&
	    evbuffer_get_length(o->plain) + evbuffer_get_length(o->wire) <=
	        o->lowat)
		o->drain_cb(o->drain_arg);
}

/* Frames appended during the handshake (a session started early) wait
 * for its end: flush then. Records that came with the peer's last
 * handshake flight sit read ahead in OpenSSL, where no socket event will
 * announce them: the reader is told then too. */
static void
tlsout_info_cb(const SSL *ssl, int where, int ret)
{
	BIO *b;
	struct tlsout *o;

	if (!(where & SSL_CB_HANDSHAKE_DONE))
		return;
	b = SSL_get_wbio(ssl);
	if (b == NULL || BIO_method_type(b) != tlsout_type)
		return;
	o = BIO_get_data(b);
	if (o == NULL || o->failed)
		return;
	o->hs_check = true;
	event_active(o->flush_ev, EV_TIMEOUT, 0);
}

static void
tlsout_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tlsout *o = arg;

	if (o->hs_check) {
		o->hs_check = false;
		if (o->bev != NULL && SSL_has_pending(o->ssl))
			bufferevent_trigger(o->bev, EV_READ,
			    BEV_TRIG_IGNORE_WATERMARKS |
			        BEV_TRIG_DEFER_CALLBACKS);
	}
	tlsout_flush(o);
}

static void
tlsout_plain_cb(
    struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	if (info->n_added > 0)
		tlsout_schedule(arg);
}

int
tlsout_attach(SSL *ssl, struct event_base *base, evutil_socket_t fd)
{
	struct tlsout *o = NULL;
	BIO *rb = NULL, *wb = NULL;

	if (!CRYPTO_THREAD_run_once(&tlsout_once, tlsout_init_once) ||
	    tlsout_method == NULL)
		return -ENOMEM;
	o = calloc(1, sizeof(*o));
	if (o == NULL)
		return -ENOMEM;
	o->fd = fd;
	o->ssl = ssl;
	o->plain = evbuffer_new();
	o->wire = evbuffer_new();
	o->flush_ev = event_new(base, -1, 0, tlsout_event_cb, o);
	o->write_ev =
	    event_new(base, fd, EV_WRITE | EV_PERSIST, tlsout_event_cb, o);
	rb = BIO_new_socket((int)fd, BIO_NOCLOSE);
	wb = BIO_new(tlsout_method);
	if (o->plain == NULL || o->wire == NULL || o->flush_ev == NULL ||
	    o->write_ev == NULL || rb == NULL || wb == NULL ||
	    evbuffer_add_cb(o->plain, tlsout_plain_cb, o) == NULL)
		goto fail;
	BIO_set_data(wb, o);
	o = NULL; /* freed with wb now */
	SSL_set_bio(ssl, rb, wb);
	SSL_set_info_callback(ssl, tlsout_info_cb);
	SSL_set_read_ahead(ssl, 1);
	SSL_set_default_read_buffer_len(ssl, TLSOUT_READ_BUFFER);
	return 0;
fail:
	BIO_free(rb);
	BIO_free(wb);
	if (o != NULL) {
		if (o->flush_ev != NULL)
			event_free(o->flush_ev);
		if (o->write_ev != NULL)
			event_free(o->write_ev);
		if (o->plain != NULL)
			evbuffer_free(o->plain);
		if (o->wire != NULL)
			evbuffer_free(o->wire);
		free(o);
	}
	return -ENOMEM;
}

struct evbuffer *
tlsout_output(struct bufferevent *bev)
{
	struct tlsout *o = tlsout_of(bev);

	return o != NULL ? o->plain : NULL;
}

size_t
tlsout_pending_out(struct bufferevent *bev)
{
	struct tlsout *o = tlsout_of(bev);

	if (o == NULL)
		return 0;
	return evbuffer_get_length(o->plain) + evbuffer_get_length(o->wire);
}

void
tlsout_set_drain_cb(
    struct bufferevent *bev, void (*cb)(void *arg), void *arg, size_t lowat)
{
	struct tlsout *o = tlsout_of(bev);

	if (o == NULL)
		return;
	o->drain_cb = cb;
	o->drain_arg = arg;
	o->lowat = lowat;
}

int
tlsout_pull(struct bufferevent *bev, size_t max)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	struct evbuffer *in;
	size_t got = 0;

	if (ssl == NULL || !SSL_is_init_finished(ssl))
		return 0;
	in = bufferevent_get_input(bev);
	/* Only what OpenSSL already holds: what is still in the socket
	 * wakes libevent again, and asking for it here would mostly cost a
	 * read() that says EAGAIN. */
	while (got < max && SSL_has_pending(ssl)) {
		struct evbuffer_iovec v;
		int n, e;

		if (evbuffer_reserve_space(in, TLSOUT_RECORD_MAX, &v, 1) != 1)
			return -ENOMEM;
		ERR_clear_error();
		n = SSL_read(ssl, v.iov_base,
		    v.iov_len > INT_MAX ? INT_MAX : (int)v.iov_len);
		if (n <= 0) {
			e = SSL_get_error(ssl, n);
			evbuffer_commit_space(in, &v, 0);
			if (e == SSL_ERROR_WANT_READ ||
			    e == SSL_ERROR_WANT_WRITE)
				break;
			return e == SSL_ERROR_ZERO_RETURN ? -EPIPE : -EIO;
		}
		v.iov_len = (size_t)n;
		if (evbuffer_commit_space(in, &v, 1) < 0)
			return -ENOMEM;
		got += (size_t)n;
	}
	return got > INT_MAX ? INT_MAX : (int)got;
}

bool
tlsout_pull_pending(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	return ssl != NULL && SSL_is_init_finished(ssl) && SSL_has_pending(ssl);
}

void
tlsout_push(struct bufferevent *bev)
{
	struct tlsout *o = tlsout_of(bev);
	size_t wrote = 0;

	if (o != NULL && !o->flushing && !o->failed &&
	    evbuffer_get_length(o->plain) >= TLSOUT_RECORD_MAX)
		tlsout_encrypt(o, false, &wrote);
}

void
tlsout_flush_now(struct bufferevent *bev)
{
	struct tlsout *o = tlsout_of(bev);

	if (o != NULL && !o->flushing && !o->failed &&
	    evbuffer_get_length(o->plain) > 0)
		tlsout_flush(o);
}

void
tlsout_bind(struct bufferevent *bev)
{
	struct tlsout *o = tlsout_of(bev);

	if (o != NULL)
		o->bev = bev;
}

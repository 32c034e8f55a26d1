/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tlsout: the I/O of a TLS carrier that libevent 2.1's bufferevent_openssl
 * does slowly, for the TLS bufferevents tlsconf makes.
 *
 * Writing: libevent writes a TLS bufferevent's output one loop turn late
 * (an EPOLLOUT registration, a wakeup, the write, a deregistration), one
 * record per evbuffer chain and one write() per record. Instead the
 * session appends its frames to tlsout_output(bev); at the end of the same
 * loop turn (one event made active on the first append) they are
 * encrypted a record (up to 16 KiB) at a time, small frames of every
 * stream ready in that turn gathered into one record, and each record is
 * sent straight from OpenSSL's buffer by a BIO of ours while the socket
 * keeps up; what it does not take is queued for EPOLLOUT and encryption
 * pauses until it drains. The bufferevent's own output stays empty
 * (libevent's writer never runs). A write error shuts the socket down, so
 * libevent's reader reports the end as usual.
 *
 * Reading: OpenSSL reads ahead (several records per read()), and
 * tlsout_pull decrypts what libevent 2.1 leaves behind: it decrypts one
 * record per wakeup and never revisits records already read from the
 * socket.
 *
 * Everything runs on the bufferevent's event_base; nothing blocks.
 */
#ifndef TELEPOD_COMMON_TLSOUT_H
#define TELEPOD_COMMON_TLSOUT_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/bufferevent.h>
#include <event2/util.h>
#include <openssl/ssl.h>

struct evbuffer;

/* Largest plaintext of one TLS record. */
#define TLSOUT_RECORD_MAX 16384

/*
 * Gives ssl (not yet attached to a bufferevent) a reading socket BIO on fd
 * and our writing BIO, and turns on read-ahead. Then create the
 * bufferevent with bufferevent_openssl_socket_new(base, fd, ssl, ...): it
 * finds fd through our BIO. Returns 0 or -ENOMEM (ssl unchanged).
 */
int tlsout_attach(SSL *ssl, struct event_base *base, evutil_socket_t fd);

/* Tells tlsout the bufferevent made over its SSL (call right after
 * bufferevent_openssl_socket_new), so that data read ahead together with
 * the peer's last handshake flight is announced with a read callback. */
void tlsout_bind(struct bufferevent *bev);

/*
 * The evbuffer to append plaintext to, for a bufferevent whose SSL went
 * through tlsout_attach; NULL for any other bufferevent (write to
 * bufferevent_get_output then). Append only once the handshake is done.
 */
struct evbuffer *tlsout_output(struct bufferevent *bev);

/*
 * Sends the full records (TLSOUT_RECORD_MAX) of what was appended now, leaving
 * the rest for the end of the turn: a large batch starts on its way (and the
 * peer on its work) while the session is still producing it. Never calls
 * back. No-op for other bufferevents.
 */
void tlsout_push(struct bufferevent *bev);

/*
 * Encrypts and sends all that was appended, now instead of at the end of
 * the turn (what the socket does not take waits for EPOLLOUT as usual).
 * May call the drain callback. No-op for other bufferevents.
 */
void tlsout_flush_now(struct bufferevent *bev);

/* Bytes appended and not yet written to the socket (plaintext waiting
 * plus records waiting); 0 for other bufferevents. */
size_t tlsout_pending_out(struct bufferevent *bev);

/*
 * cb(arg) is called after a write that left at most lowat bytes pending
 * (tlsout_pending_out), from an event callback of its own. It may free
 * bev. cb NULL stops the calls (do that before freeing whatever arg is).
 * No-op for other bufferevents.
 */
void tlsout_set_drain_cb(
    struct bufferevent *bev, void (*cb)(void *arg), void *arg, size_t lowat);

/*
 * Decrypts what bev's TLS layer already holds (read ahead from the socket)
 * into bev's input, up to about max bytes, without waiting. Whoever reads
 * a tlsout bufferevent calls it from the read callback until it returns 0:
 * libevent leaves such bytes alone and no socket event will come for them.
 * Returns the bytes added, 0 when nothing more is there now (or bev is not TLS
 * or not past its handshake), -EPIPE when the peer closed TLS (close_notify),
 * -EIO on a TLS or socket error, -ENOMEM.
 */
int tlsout_pull(struct bufferevent *bev, size_t max);

/* True when bev's TLS layer holds bytes read from the socket that
 * tlsout_pull would decrypt (no socket event will come for them). */
bool tlsout_pull_pending(struct bufferevent *bev);

#endif

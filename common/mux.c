/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mux: the telepod session engine. One session runs over one carrier
 * bufferevent: it exchanges HELLO (nothing else is accepted before the
 * peer's), keeps the peer alive with PING/PONG, multiplexes streams and
 * relays each one between the carrier and a local bufferevent, and carries
 * DNS and environment requests matched by echoed ids.
 *
 * Flow control follows SSH channels with an HTTP/2-like connection window.
 * Sending: a stream sends DATA only within the peer's stream window and the
 * peer's connection window, and only while the carrier's output is below
 * its cap; otherwise its local stops being read (sample/le-proxy.c) and the
 * stream waits in a FIFO that the carrier's drain callback serves one frame
 * per stream per turn, so a busy stream cannot starve the others.
 * Receiving: DATA moves (evbuffer_remove_buffer, no copy of whole chains)
 * from the carrier's input straight into the local's output. Connection
 * credit is returned at once (the bytes left the carrier buffer); stream
 * credit is returned only as the local's output drains, after half a window
 * - so a slow local reader stalls its own stream and nothing else, and the
 * memory a stream holds is bounded by its window.
 *
 * Streams live in an open-addressing hash keyed by id and on a list for
 * iteration; a stream holds no buffers of its own (its local's evbuffers
 * are the only ones). Objects are never freed under a callback: the session
 * counts its entries from libevent and public calls, ended streams are
 * reaped and a requested free happens when the count drops to zero.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "common/log.h"
#include "common/monotime.h"
#include "common/mux.h"
#include "common/tlsout.h"

/* A TLS carrier's read callback decrypts at most this much per round
 * and makes at most MUX_PULL_ROUNDS rounds before yielding the loop. */
#define MUX_PULL_MAX    (256u * 1024u)
#define MUX_PULL_ROUNDS 4
/* DATA payloads at least this large move to a tlsout carrier without a
 * copy. */
#define MUX_COPY_MAX (16u * 1024u)
/* DATA is batched up to this many bytes per frame, header included: a
 * bulk frame is then exactly four full TLS records (a 64 KiB payload made
 * 65,548 bytes, four records and a fifth of 12 bytes, its own SSL_write,
 * send() and TCP segment). */
#define MUX_DATA_BATCH   (64u * 1024u)
#define MUX_DATA_PAYLOAD (MUX_DATA_BATCH - WIRE_HEADER_LEN)
_Static_assert(MUX_DATA_BATCH % TLSOUT_RECORD_MAX == 0,
    "a full DATA frame fills whole TLS records");
/* Recently reset stream ids remembered to drop in-flight frames silently. */
#define MUX_RECENT_RESETS 256
/* Carrier reading pauses while its output holds this many times the cap
 * (only a peer that does not read our answers gets there). */
#define MUX_CARRIER_PAUSE_FACTOR 4
/* How long a closing session waits for its GOAWAY to be written. */
#define MUX_FLUSH_DEADLINE_MS 1000
/* Largest small control frame: GOAWAY/RESET/OPEN_RESULT with a message. */
#define MUX_SMALL_FRAME (WIRE_HEADER_LEN + 8 + FRAME_MAX_MESSAGE)

enum mux_session_state {
	MUX_S_NEW,     /* created, nothing sent */
	MUX_S_HELLO,   /* our HELLO sent, waiting for the peer's */
	MUX_S_READY,   /* both HELLOs accepted */
	MUX_S_CLOSING, /* streams ended, flushing our GOAWAY */
	MUX_S_CLOSED,  /* on_closed called (or being freed) */
};

enum mux_stream_state {
	MUX_ST_OPENING, /* we sent OPEN, waiting for OPEN_RESULT */
	MUX_ST_PENDING, /* the peer sent OPEN, waiting for the owner */
	MUX_ST_OPEN,    /* relaying (possibly half-closed) */
	MUX_ST_DEAD,    /* ended, waiting to be reaped */
};

/* Stream flags. */
#define MUX_F_LOCAL_EOF 0x0001u /* the local gave EOF */
#define MUX_F_FIN_SENT  0x0002u /* we sent FIN */
#define MUX_F_FIN_RCVD  0x0004u /* the peer sent FIN */
#define MUX_F_SHUT_DONE 0x0008u /* peer FIN delivered to the local */
#define MUX_F_QUEUED    0x0010u /* waiting in the carrier queue */
#define MUX_F_READING   0x0020u /* local EV_READ enabled by us */
#define MUX_F_OPEN_CB   0x0040u /* open_cb still owed */
#define MUX_F_PUMPING   0x0080u /* inside stream_pump (re-entrancy) */
#define MUX_F_DETACHED  0x0100u /* opened without a local, not attached */
#define MUX_F_NOTIFY_WR 0x0200u /* MUX_STREAM_WROTE wanted */

/* Request kinds in the pending-request map. */
#define MUX_REQ_DNS 1
#define MUX_REQ_ENV 2

/* Open-addressing hash map u32 -> pointer; key 0 means empty. */
struct mux_map_slot {
	uint32_t key;
	void *val;
};

struct mux_map {
	struct mux_map_slot *slots;
	uint32_t mask; /* capacity - 1; capacity is a power of two */
	uint32_t count;
	unsigned bits;
};

struct mux_stream {
	struct mux_session *s;
	struct bufferevent *local; /* owned; NULL while pending or dead */
	/* A socket local is read by this event of ours, not by the
	 * bufferevent (see mux_local_sock_read_cb); NULL for other locals. */
	struct event *rd_ev;
	/* DATA received while detached (MUX_F_DETACHED), for the local that
	 * mux_stream_attach will bring; bounded by our stream window, as no
	 * credit is granted before the bytes reach a local. */
	struct evbuffer *held;
	uint32_t id;
	uint8_t state;
	uint16_t flags;
	uint32_t send_window; /* peer's receive window for this stream */
	uint32_t recv_window; /* what the peer may still send us */
	uint32_t recv_credit; /* drained, not yet granted */
	uint32_t out_pending; /* bytes in the local's output, accounted */
	uint64_t bytes_in;
	uint64_t bytes_out;
	mux_open_cb open_cb;
	void *open_arg;
	mux_stream_event_cb event_cb;
	void *event_arg;
	void *user;
	TAILQ_ENTRY(mux_stream) all;  /* every live stream */
	TAILQ_ENTRY(mux_stream) wait; /* carrier queue */
	struct mux_stream *reap_next;
	struct frame_addr dst;
};

TAILQ_HEAD(mux_stream_list, mux_stream);

struct mux_session {
	struct event_base *base;
	struct bufferevent *carrier;
	/* Where frames go: the carrier's output, or for a TLS carrier of
	 * tlsconf's the tlsout buffer written at the end of the turn. */
	struct evbuffer *out;
	bool tlsout;
	/* A TLS carrier's DATA is assembled here: payload chains moved in,
	 * the header put in front (in the chain's headroom when the socket
	 * read left some), then moved on to out. */
	struct evbuffer *frame;
	struct mux_callbacks cbs;
	void *arg;

	/* Configuration. */
	uint8_t role;
	uint8_t min_proto, max_proto;
	uint32_t caps;
	uint32_t stream_window;
	uint32_t conn_window;
	unsigned ping_ms, dead_ms, max_streams;
	size_t read_cap, out_cap;
	unsigned log_id;
	bool log_events;
	bool yield_to_locals;
	int (*yield)(void);
	uint8_t *hello; /* our encoded HELLO until start */
	size_t hello_len;

	uint8_t state;
	bool local_goaway, peer_goaway, carrier_paused;
	/* Socket locals handed DATA while handling the carrier's input this
	 * time (each counted once: the last one is remembered), and when
	 * yielding to them may resume after a long yield. */
	unsigned fed;
	const struct mux_stream *fed_last;
	uint64_t yield_paused_until_us;
	bool free_requested, destroying;
	unsigned depth; /* entries on the stack */
	uint32_t goaway_err;
	char *goaway_msg; /* ours (local) or the peer's, for on_closed */
	uint32_t close_err;
	char close_reason[FRAME_MAX_MESSAGE + 1];
	struct mux_peer_info peer;

	/* Streams. */
	struct mux_map streams;
	struct mux_stream_list all;
	struct mux_stream_list waitq;
	struct mux_stream *reap;
	uint64_t next_id;      /* next id we open */
	uint32_t last_peer_id; /* highest id the peer opened */
	uint32_t recent[MUX_RECENT_RESETS];
	unsigned recent_pos;

	/* Connection windows. */
	uint32_t conn_send_window; /* what we may still send */
	uint32_t conn_recv_window; /* what the peer may still send */
	uint32_t conn_credit;      /* received, not yet granted */

	/* Requests. */
	struct mux_map requests; /* id -> MUX_REQ_* */
	uint32_t next_req_id;

	/* Keepalive. */
	struct event *timer;
	uint64_t last_rx_ms, last_ping_ms;
	uint64_t ping_opaque; /* last PING sent (its send time in us) */
	bool ping_outstanding;

	struct mux_stats stats;
};

/*
 * Small helpers.
 */

static size_t
mux_min(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Copies a peer message into out (NUL terminated, cut at a NUL byte). */
static const char *
mux_msg(char *out, size_t cap, const char *msg, size_t len)
{
	const char *nul = memchr(msg, '\0', len);

	if (nul)
		len = (size_t)(nul - msg);
	if (len >= cap)
		len = cap - 1;
	memcpy(out, msg, len);
	out[len] = '\0';
	return out;
}

/*
 * The hash map.
 */

static uint32_t
mux_map_home(const struct mux_map *m, uint32_t key)
{
	return (uint32_t)(key * 2654435761u) >> (32 - m->bits);
}

static void *
mux_map_get(const struct mux_map *m, uint32_t key)
{
	uint32_t i;

	if (!m->slots || key == 0)
		return NULL;
	for (i = mux_map_home(m, key);; i = (i + 1) & m->mask) {
		if (m->slots[i].key == key)
			return m->slots[i].val;
		if (m->slots[i].key == 0)
			return NULL;
	}
}

static int
mux_map_resize(struct mux_map *m, unsigned bits)
{
	struct mux_map n = {0};
	uint32_t cap = 1u << bits;

	n.slots = calloc(cap, sizeof(*n.slots));
	if (!n.slots)
		return -ENOMEM;
	n.bits = bits;
	n.mask = cap - 1;
	if (m->slots) {
		for (uint32_t i = 0; i <= m->mask; i++) {
			uint32_t j;

			if (m->slots[i].key == 0)
				continue;
			j = mux_map_home(&n, m->slots[i].key);
			while (n.slots[j].key != 0)
				j = (j + 1) & n.mask;
			n.slots[j] = m->slots[i];
			n.count++;
		}
	}
	free(m->slots);
	*m = n;
	return 0;
}

/* Inserts a key that is not present. Returns 0 or -ENOMEM. */
static int
mux_map_put(struct mux_map *m, uint32_t key, void *val)
{
	uint32_t i;
	int ret;

	/* Load factor at most 1/2 keeps probes short. */
	if (!m->slots || (m->count + 1) * 2 > m->mask + 1) {
		ret = mux_map_resize(m, m->slots ? m->bits + 1 : 4);
		if (ret < 0)
			return ret;
	}
	i = mux_map_home(m, key);
	while (m->slots[i].key != 0)
		i = (i + 1) & m->mask;
	m->slots[i].key = key;
	m->slots[i].val = val;
	m->count++;
	return 0;
}

/* Removes key (backward-shift deletion). Returns its value or NULL. */
static void *
mux_map_del(struct mux_map *m, uint32_t key)
{
	uint32_t i, j;
	void *val;

	if (!m->slots || key == 0)
		return NULL;
	for (i = mux_map_home(m, key);; i = (i + 1) & m->mask) {
		if (m->slots[i].key == key)
			break;
		if (m->slots[i].key == 0)
			return NULL;
	}
	val = m->slots[i].val;
	for (j = i;;) {
		uint32_t k;

		j = (j + 1) & m->mask;
		if (m->slots[j].key == 0)
			break;
		k = mux_map_home(m, m->slots[j].key);
		/* Leave the entry if its home lies cyclically in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		m->slots[i] = m->slots[j];
		i = j;
	}
	m->slots[i].key = 0;
	m->slots[i].val = NULL;
	m->count--;
	/* Give memory back after a burst (10,000 streams and then few). */
	if (m->bits > 6 && m->count * 8 < m->mask + 1)
		(void)mux_map_resize(m, m->bits - 1);
	return val;
}

static void
mux_map_clear(struct mux_map *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

/*
 * Session entry accounting and deferred frees.
 */

static void mux_session_destroy(struct mux_session *s);

static void
mux_enter(struct mux_session *s)
{
	s->depth++;
}

static void
mux_reap(struct mux_session *s)
{
	struct mux_stream *st;

	while ((st = s->reap)) {
		s->reap = st->reap_next;
		free(st);
	}
}

static void
mux_leave(struct mux_session *s)
{
	if (--s->depth > 0)
		return;
	mux_reap(s);
	if (s->free_requested && !s->destroying)
		mux_session_destroy(s);
}

/*
 * Frame output.
 */

static bool
mux_can_send(const struct mux_session *s)
{
	return s->carrier && s->state >= MUX_S_HELLO &&
	       s->state <= MUX_S_CLOSING && !s->destroying;
}

static void
mux_send_raw(struct mux_session *s, const void *buf, size_t len)
{
	if (!mux_can_send(s))
		return;
	if (evbuffer_add(s->out, buf, len) == 0)
		s->stats.frames_out++;
}

/*
 * Sends DATA with n bytes taken from in, header and payload in one
 * contiguous piece of the carrier's output: the TLS bufferevent makes a
 * record of every piece it is given, so a header chained before a moved
 * payload chain cost a record (and a write, and a TCP segment) of its own.
 * The copy is cheaper than those.
 */
static int
mux_send_data(struct mux_session *s, uint32_t id, struct evbuffer *in, size_t n)
{
	struct evbuffer *out = s->out;
	struct evbuffer_iovec v;

	if (s->tlsout && n >= MUX_COPY_MAX) {
		/* Move the payload's chains rather than copy them. A socket
		 * read leaves room for the header in front of its chain
		 * (mux_local_sock_read_cb): the header goes there and the
		 * first record is contiguous. Otherwise the header is a chain
		 * of its own and tlsout gathers it into the first record. */
		uint8_t hdr[WIRE_HEADER_LEN];

		frame_encode_header(hdr, WIRE_DATA, id, (uint32_t)n);
		if (evbuffer_remove_buffer(in, s->frame, n) != (int)n ||
		    evbuffer_prepend(s->frame, hdr, sizeof(hdr)) < 0 ||
		    evbuffer_add_buffer(out, s->frame) < 0)
			return -1;
		s->stats.frames_out++;
		return 0;
	}
	if (evbuffer_reserve_space(
	        out, (ev_ssize_t)(WIRE_HEADER_LEN + n), &v, 1) != 1 ||
	    v.iov_len < WIRE_HEADER_LEN + n)
		return -1;
	frame_encode_header(v.iov_base, WIRE_DATA, id, (uint32_t)n);
	if (evbuffer_remove(in, (uint8_t *)v.iov_base + WIRE_HEADER_LEN, n) !=
	    (int)n)
		return -1;
	v.iov_len = WIRE_HEADER_LEN + n;
	if (evbuffer_commit_space(out, &v, 1) < 0)
		return -1;
	s->stats.frames_out++;
	return 0;
}

/* Encodes and sends a small frame (no HELLO, DNS or ENV_REPLY). */
static void
mux_send_frame(struct mux_session *s, const struct frame *f)
{
	uint8_t buf[MUX_SMALL_FRAME];
	int n;

	n = frame_encode(f, buf, sizeof(buf));
	if (n < 0) {
		log_debug(LOG_CAT_MUX, "session %u: cannot encode %s: %d",
		    s->log_id, wire_type_name(f->h.type), n);
		return;
	}
	mux_send_raw(s, buf, (size_t)n);
}

static size_t
mux_msg_len(const char *msg)
{
	return msg ? strnlen(msg, FRAME_MAX_MESSAGE) : 0;
}

static void
mux_send_window(struct mux_session *s, uint32_t id, uint32_t inc)
{
	uint8_t buf[WIRE_HEADER_LEN + 4];

	frame_encode_header(buf, WIRE_WINDOW, id, 4);
	wire_put_u32(buf + WIRE_HEADER_LEN, inc);
	mux_send_raw(s, buf, sizeof(buf));
}

static void
mux_send_reset(
    struct mux_session *s, uint32_t id, uint32_t err, const char *msg)
{
	struct frame f;

	memset(&f, 0, sizeof(f));
	f.h.type = WIRE_RESET;
	f.h.stream_id = id;
	f.u.reset.error = err;
	f.u.reset.msg = msg;
	f.u.reset.msg_len = mux_msg_len(msg);
	mux_send_frame(s, &f);
	/* Frames the peer sent before it sees this are dropped silently. */
	s->recent[s->recent_pos++ % MUX_RECENT_RESETS] = id;
}

static void
mux_send_open_result(struct mux_session *s, uint32_t id, uint32_t err,
    uint32_t window, const char *msg)
{
	struct frame f;

	memset(&f, 0, sizeof(f));
	f.h.type = WIRE_OPEN_RESULT;
	f.h.stream_id = id;
	f.u.open_result.error = err;
	f.u.open_result.window = window;
	f.u.open_result.msg = msg;
	f.u.open_result.msg_len = mux_msg_len(msg);
	mux_send_frame(s, &f);
	if (err != WIRE_OK)
		s->recent[s->recent_pos++ % MUX_RECENT_RESETS] = id;
}

static void
mux_send_goaway(struct mux_session *s, uint32_t err, const char *msg)
{
	struct frame f;

	memset(&f, 0, sizeof(f));
	f.h.type = WIRE_GOAWAY;
	f.u.goaway.last_stream_id = s->last_peer_id;
	f.u.goaway.error = err;
	f.u.goaway.msg = msg;
	f.u.goaway.msg_len = mux_msg_len(msg);
	mux_send_frame(s, &f);
}

static void
mux_send_ping(struct mux_session *s, uint8_t type, uint64_t opaque)
{
	uint8_t buf[WIRE_HEADER_LEN + 8];

	frame_encode_header(buf, type, 0, 8);
	wire_put_u64(buf + WIRE_HEADER_LEN, opaque);
	mux_send_raw(s, buf, sizeof(buf));
}

static size_t
mux_carrier_out_len(const struct mux_session *s)
{
	if (s->tlsout)
		return tlsout_pending_out(s->carrier);
	return evbuffer_get_length(bufferevent_get_output(s->carrier));
}

/*
 * Session close.
 */

static void mux_stream_end(
    struct mux_stream *st, uint32_t err, const char *msg, bool abort_local);
static void mux_session_finish(struct mux_session *s);
static void mux_arm_timer(struct mux_session *s, uint64_t delay_ms);

/* Fails every pending request with err; the callbacks may issue or cancel
 * requests (they find an empty, closed session). */
static void
mux_fail_requests(struct mux_session *s, uint32_t err)
{
	struct mux_map m = s->requests;

	memset(&s->requests, 0, sizeof(s->requests));
	for (uint32_t i = 0; m.slots && i <= m.mask; i++) {
		uint32_t id = m.slots[i].key;
		uintptr_t kind = (uintptr_t)m.slots[i].val;

		if (id == 0)
			continue;
		if (kind == MUX_REQ_DNS && s->cbs.on_dns_answer)
			s->cbs.on_dns_answer(s, id, err, NULL, 0, s->arg);
		else if (kind == MUX_REQ_ENV && s->cbs.on_env_reply)
			s->cbs.on_env_reply(s, id, err, NULL, s->arg);
	}
	mux_map_clear(&m);
}

/*
 * Ends the session: sends GOAWAY(err) when asked, ends every stream and
 * request, then (after flushing the carrier when asked, bounded by a
 * deadline) calls on_closed.
 */
static void
mux_session_close(struct mux_session *s, uint32_t err, const char *reason,
    bool goaway, bool flush)
{
	struct mux_stream *st;
	uint32_t stream_err = err ? err : WIRE_ERR_SHUTDOWN;

	if (s->state >= MUX_S_CLOSING || s->destroying)
		return;
	if (goaway)
		mux_send_goaway(s, err, reason);
	s->close_err = err;
	mux_msg(s->close_reason, sizeof(s->close_reason), reason ? reason : "",
	    reason ? strlen(reason) : 0);
	s->state = MUX_S_CLOSING;
	evtimer_del(s->timer);
	log_debug(LOG_CAT_MUX, "session %u: closing: %s (%s)", s->log_id,
	    wire_error_name(err), s->close_reason);

	while ((st = TAILQ_FIRST(&s->all)))
		mux_stream_end(st, stream_err, s->close_reason, true);
	mux_fail_requests(s, stream_err);

	if (s->state != MUX_S_CLOSING)
		return;
	if (flush && s->carrier && mux_carrier_out_len(s) > 0) {
		/* The write callback finishes when the output is empty. */
		bufferevent_setwatermark(s->carrier, EV_WRITE, 0, 0);
		bufferevent_enable(s->carrier, EV_WRITE);
		mux_arm_timer(s, mux_min(MUX_FLUSH_DEADLINE_MS, s->dead_ms));
		return;
	}
	mux_session_finish(s);
}

static void
mux_session_finish(struct mux_session *s)
{
	if (s->state == MUX_S_CLOSED)
		return;
	s->state = MUX_S_CLOSED;
	evtimer_del(s->timer);
	if (s->carrier)
		bufferevent_disable(s->carrier, EV_READ | EV_WRITE);
	if (s->log_events)
		log_info("session %u: closed: %s", s->log_id, s->close_reason);
	if (s->cbs.on_closed)
		s->cbs.on_closed(s, s->close_err, s->close_reason, s->arg);
}

/* A violation of the spec by the peer: GOAWAY(err) and close. */
static void
mux_violation(struct mux_session *s, uint32_t err, const char *why)
{
	log_debug(LOG_CAT_MUX, "session %u: peer violation %s: %s", s->log_id,
	    wire_error_name(err), why);
	mux_session_close(s, err, why, true, true);
}

/* After a stream or request ended: a going-away session closes with its
 * last one. */
static void
mux_check_drained(struct mux_session *s)
{
	if (s->state != MUX_S_READY || !TAILQ_EMPTY(&s->all) ||
	    s->requests.count > 0)
		return;
	if (s->local_goaway || s->peer_goaway)
		mux_session_close(s, s->goaway_err, s->goaway_msg, false, true);
}

/*
 * Streams.
 */

static bool
mux_our_id(const struct mux_session *s, uint32_t id)
{
	/* Clients open odd ids, servers even ones. */
	return (id & 1u) == (s->role == WIRE_ROLE_CLIENT ? 1u : 0u);
}

/* True when id was opened at some point (by either side). */
static bool
mux_id_used(const struct mux_session *s, uint32_t id)
{
	if (mux_our_id(s, id))
		return id < s->next_id;
	return id != 0 && id <= s->last_peer_id;
}

static bool
mux_recently_reset(const struct mux_session *s, uint32_t id)
{
	for (unsigned i = 0; i < MUX_RECENT_RESETS; i++)
		if (s->recent[i] == id)
			return true;
	return false;
}

static struct mux_stream *
mux_stream_find(struct mux_session *s, uint32_t id)
{
	return mux_map_get(&s->streams, id);
}

static void
mux_set_reading(struct mux_stream *st, bool on)
{
	if (!st->local || on == !!(st->flags & MUX_F_READING))
		return;
	if (on) {
		st->flags |= MUX_F_READING;
		if (st->rd_ev)
			event_add(st->rd_ev, NULL);
		else
			bufferevent_enable(st->local, EV_READ);
	} else {
		st->flags &= ~MUX_F_READING;
		if (st->rd_ev)
			event_del(st->rd_ev);
		else
			bufferevent_disable(st->local, EV_READ);
	}
}

static void
mux_enqueue(struct mux_stream *st)
{
	if (st->flags & MUX_F_QUEUED)
		return;
	st->flags |= MUX_F_QUEUED;
	TAILQ_INSERT_TAIL(&st->s->waitq, st, wait);
}

static void
mux_dequeue(struct mux_stream *st)
{
	if (!(st->flags & MUX_F_QUEUED))
		return;
	st->flags &= ~MUX_F_QUEUED;
	TAILQ_REMOVE(&st->s->waitq, st, wait);
}

/* Sends FIN once the local said EOF and everything it gave is framed. */
static void
mux_stream_maybe_done(struct mux_stream *st)
{
	if ((st->flags & MUX_F_FIN_SENT) && (st->flags & MUX_F_SHUT_DONE))
		mux_stream_end(st, WIRE_OK, "", false);
}

/*
 * Moves the local's input into DATA frames, at most budget bytes, within
 * the windows and the carrier cap; then decides whether to read the local
 * and whether to wait in the carrier queue.
 */
static void
mux_stream_pump(struct mux_stream *st, size_t budget)
{
	struct mux_session *s = st->s;
	struct evbuffer *in, *out;
	bool queue = false;
	size_t avail = 0;

	if (st->state != MUX_ST_OPEN || (st->flags & MUX_F_FIN_SENT) ||
	    (st->flags & MUX_F_PUMPING) || s->state != MUX_S_READY ||
	    !st->local)
		return;
	st->flags |= MUX_F_PUMPING;
	in = bufferevent_get_input(st->local);
	out = s->out;
	/* Every bound is re-read each turn: moving bytes can run callbacks
	 * (a bufferevent_pair transfers synchronously). */
	while (st->state == MUX_ST_OPEN && s->state == MUX_S_READY) {
		size_t n;

		avail = evbuffer_get_length(in);
		if (avail == 0 || st->send_window == 0)
			break;
		if (s->conn_send_window == 0 ||
		    evbuffer_get_length(out) >= s->out_cap || budget == 0) {
			queue = true;
			break;
		}
		n = mux_min(avail, MUX_DATA_PAYLOAD);
		n = mux_min(n, st->send_window);
		n = mux_min(n, s->conn_send_window);
		n = mux_min(n, budget);
		st->send_window -= (uint32_t)n;
		s->conn_send_window -= (uint32_t)n;
		budget -= n;
		st->bytes_out += n;
		s->stats.bytes_out += n;
		if (mux_send_data(s, st->id, in, n) < 0) {
			/* The carrier is no longer at a frame boundary. */
			st->flags &= ~MUX_F_PUMPING;
			mux_session_close(s, WIRE_ERR_INTERNAL, "out of memory",
			    false, false);
			return;
		}
	}
	st->flags &= ~MUX_F_PUMPING;
	/* A full record's worth is waiting: start it on its way (checked
	 * here, per pump, to keep tlsout's lookup off the common case). */
	if (s->tlsout && evbuffer_get_length(s->out) >= TLSOUT_RECORD_MAX)
		tlsout_push(s->carrier);
	if (st->state != MUX_ST_OPEN || s->state != MUX_S_READY)
		return;
	avail = evbuffer_get_length(in);
	if (avail == 0 && (st->flags & MUX_F_LOCAL_EOF)) {
		struct frame f;

		memset(&f, 0, sizeof(f));
		f.h.type = WIRE_FIN;
		f.h.stream_id = st->id;
		mux_send_frame(s, &f);
		st->flags |= MUX_F_FIN_SENT;
		mux_set_reading(st, false);
		mux_dequeue(st);
		mux_stream_maybe_done(st);
		return;
	}
	mux_set_reading(st,
	    !(st->flags & MUX_F_LOCAL_EOF) && !queue && st->send_window > 0);
	if (queue)
		mux_enqueue(st);
}

/* Serves the carrier queue round-robin, one frame per stream per turn. */
static void
mux_run_queue(struct mux_session *s)
{
	struct mux_stream *st;

	while (s->state == MUX_S_READY && (st = TAILQ_FIRST(&s->waitq)) &&
	       s->conn_send_window > 0 && mux_carrier_out_len(s) < s->out_cap) {
		mux_dequeue(st);
		mux_stream_pump(st, MUX_DATA_BATCH);
	}
}

/* Grants stream credit for what the local's output has drained. */
static void
mux_stream_drained(struct mux_stream *st, size_t len)
{
	struct mux_session *s = st->s;
	uint32_t drained;

	if (len > st->out_pending)
		len = st->out_pending;
	drained = st->out_pending - (uint32_t)len;
	st->out_pending = (uint32_t)len;
	if (st->state != MUX_ST_OPEN || (st->flags & MUX_F_FIN_RCVD))
		return;
	st->recv_credit += drained;
	if (st->recv_credit > 0 && st->recv_credit >= s->stream_window / 2) {
		mux_send_window(s, st->id, st->recv_credit);
		st->recv_window += st->recv_credit;
		st->recv_credit = 0;
	}
}

static void
mux_conn_credit(struct mux_session *s, uint32_t n)
{
	s->conn_credit += n;
	if (s->conn_credit >= s->conn_window / 2) {
		mux_send_window(s, 0, s->conn_credit);
		s->conn_recv_window += s->conn_credit;
		s->conn_credit = 0;
	}
}

/* Tells the local that the peer finished sending: shutdown for sockets,
 * BEV_FINISHED for others (a pair partner sees EOF). */
static void
mux_stream_deliver_fin(struct mux_stream *st)
{
	evutil_socket_t fd;

	if ((st->flags & MUX_F_SHUT_DONE) || !st->local)
		return;
	st->flags |= MUX_F_SHUT_DONE;
	fd = bufferevent_getfd(st->local);
	if (fd >= 0)
		shutdown(fd, SHUT_WR);
	else
		bufferevent_flush(st->local, EV_WRITE, BEV_FINISHED);
	if (st->state == MUX_ST_OPEN && st->event_cb)
		st->event_cb(st, MUX_STREAM_PEER_FIN, 0, st->event_arg);
	if (st->state == MUX_ST_OPEN)
		mux_stream_maybe_done(st);
}

/* Frees the local: abortively (RST for sockets, EOF to a pair partner
 * after discarding its pending output) or after a clean close. */
static void
mux_local_close(struct bufferevent *bev, bool abort_local)
{
	evutil_socket_t fd;

	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	fd = bufferevent_getfd(bev);
	if (abort_local) {
		struct evbuffer *out = bufferevent_get_output(bev);

		evbuffer_drain(out, evbuffer_get_length(out));
		if (fd >= 0) {
			struct linger l = {.l_onoff = 1, .l_linger = 0};

			setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		} else {
			bufferevent_flush(bev, EV_WRITE, BEV_FINISHED);
		}
	}
	bufferevent_free(bev);
}

/*
 * Ends a stream: unlinks it, closes its local, calls the owed open_cb and
 * MUX_STREAM_CLOSED, and queues the memory for reaping. Sends nothing.
 */
static void
mux_stream_end(
    struct mux_stream *st, uint32_t err, const char *msg, bool abort_local)
{
	struct mux_session *s = st->s;

	if (st->state == MUX_ST_DEAD)
		return;
	st->state = MUX_ST_DEAD;
	mux_map_del(&s->streams, st->id);
	TAILQ_REMOVE(&s->all, st, all);
	mux_dequeue(st);
	s->stats.streams_open = s->streams.count;
	if (st->rd_ev) {
		event_free(st->rd_ev);
		st->rd_ev = NULL;
	}
	if (st->local) {
		mux_local_close(st->local, abort_local);
		st->local = NULL;
	}
	if (st->held) {
		evbuffer_free(st->held);
		st->held = NULL;
	}
	log_debug(LOG_CAT_MUX, "session %u stream %u: closed: %s", s->log_id,
	    st->id, err ? wire_error_name(err) : "done");
	if (st->flags & MUX_F_OPEN_CB) {
		st->flags &= ~MUX_F_OPEN_CB;
		if (st->open_cb)
			st->open_cb(st, err ? err : WIRE_ERR_CANCEL,
			    msg ? msg : "", st->open_arg);
	}
	if (st->event_cb)
		st->event_cb(st, MUX_STREAM_CLOSED, err, st->event_arg);
	st->reap_next = s->reap;
	s->reap = st;
	mux_check_drained(s);
}

/* A stream-level violation: RESET that stream only. */
static void
mux_stream_violation(struct mux_stream *st, uint32_t err, const char *why)
{
	struct mux_session *s = st->s;

	log_debug(LOG_CAT_MUX, "session %u stream %u: peer violation %s: %s",
	    s->log_id, st->id, wire_error_name(err), why);
	mux_send_reset(s, st->id, err, why);
	mux_stream_end(st, err, why, true);
}

/* The local failed (err: its errno): RESET towards the peer. */
static void
mux_local_failed(struct mux_stream *st, int err)
{
	struct mux_session *s = st->s;

	log_debug(LOG_CAT_MUX, "session %u stream %u: local error: %s",
	    s->log_id, st->id, evutil_socket_error_to_string(err));
	mux_send_reset(
	    s, st->id, WIRE_ERR_CONN_RESET, "local connection failed");
	mux_stream_end(
	    st, WIRE_ERR_CONN_RESET, "local connection failed", true);
}

/* The local said EOF: frame what it gave, then FIN. */
static void
mux_local_eof(struct mux_stream *st)
{
	st->flags |= MUX_F_LOCAL_EOF;
	mux_set_reading(st, false);
	if (!(st->flags & MUX_F_QUEUED))
		mux_stream_pump(st, SIZE_MAX);
}

/* Whether all that is left to read from fd is its EOF. */
static bool
mux_local_at_eof(evutil_socket_t fd)
{
	char c;

	return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* Reads of locals that are not sockets (bufferevent pairs, filters). */
static void
mux_local_read_cb(struct bufferevent *bev, void *arg)
{
	struct mux_stream *st = arg;
	struct mux_session *s = st->s;

	mux_enter(s);
	if (!(st->flags & MUX_F_QUEUED))
		mux_stream_pump(st, SIZE_MAX); /* only open streams pump */
	mux_leave(s);
}

/*
 * Reads a socket local: one recv() of up to MUX_DATA_BATCH bytes (within
 * the read cap) straight into the bufferevent's input, as one contiguous
 * chain. libevent 2.1's own socket reading costs an ioctl(FIONREAD)
 * before every read and reads at most 4096 bytes (EVBUFFER_MAX_READ;
 * evbuffer_set_max_read came in 2.2): a system call more per message,
 * and a bulk stream would need a loop turn and a frame per 4 KiB. EOF and
 * errors are handled here as libevent would report them.
 */
static void
mux_local_sock_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mux_stream *st = arg;
	struct mux_session *s = st->s;
	struct evbuffer *in;
	struct evbuffer_iovec v;
	size_t have, want, head;
	ssize_t n = -1;
	int err = ENOMEM;

	mux_enter(s);
	/* Reading starts only once the stream is open (mux_stream_pump). */
	if (st->state != MUX_ST_OPEN)
		goto out;
	in = bufferevent_get_input(st->local);
	have = evbuffer_get_length(in);
	if (have >= s->read_cap) {
		/* Unread input at the cap: the pump reads again when it
		 * has framed some. */
		mux_set_reading(st, false);
		goto out;
	}
	want = mux_min(s->read_cap - have, MUX_DATA_PAYLOAD);
	/* Into an empty input, a TLS carrier's stream reads behind room for
	 * the DATA header (committed, then drained: the chain keeps it as
	 * headroom, where mux_send_data puts the header). */
	head = have == 0 && s->tlsout ? WIRE_HEADER_LEN : 0;
	/* A socket bufferevent keeps the end of its input frozen except
	 * around its own reads; this is such a read. */
	evbuffer_unfreeze(in, 0);
	if (evbuffer_reserve_space(in, (ev_ssize_t)(head + want), &v, 1) == 1 &&
	    v.iov_len > head) {
		n = recv(fd, (char *)v.iov_base + head,
		    mux_min(v.iov_len - head, want), MSG_DONTWAIT);
		err = n < 0 ? errno : 0;
		v.iov_len = n > 0 ? head + (size_t)n : 0;
		evbuffer_commit_space(in, &v, n > 0 ? 1 : 0);
		if (n > 0 && head > 0)
			evbuffer_drain(in, head);
	}
	evbuffer_freeze(in, 0);
	if (n > 0 && (what & EV_CLOSED) && (size_t)n < want &&
	    mux_local_at_eof(fd)) {
		/* The application's FIN came with its last data (epoll said
		 * EPOLLRDHUP): end now rather than after another wake-up, so
		 * DATA and FIN leave in one flush and the far side writes
		 * them as one segment (mux_local_write_more). */
		mux_local_eof(st);
	} else if (n > 0) {
		if (!(st->flags & MUX_F_QUEUED))
			mux_stream_pump(st, SIZE_MAX);
	} else if (n == 0) {
		mux_local_eof(st);
	} else if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
		mux_local_failed(st, err);
	}
out:
	mux_leave(s);
}

static void
mux_local_write_cb(struct bufferevent *bev, void *arg)
{
	struct mux_stream *st = arg;
	struct mux_session *s = st->s;
	size_t len;

	mux_enter(s);
	len = evbuffer_get_length(bufferevent_get_output(bev));
	mux_stream_drained(st, len);
	if (len == 0 && (st->flags & MUX_F_FIN_RCVD) &&
	    st->state == MUX_ST_OPEN)
		mux_stream_deliver_fin(st);
	mux_leave(s);
}

static void
mux_local_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct mux_stream *st = arg;
	struct mux_session *s = st->s;

	mux_enter(s);
	if (st->state != MUX_ST_OPEN && st->state != MUX_ST_OPENING)
		goto out;
	if (what & BEV_EVENT_ERROR) {
		mux_local_failed(st, EVUTIL_SOCKET_ERROR());
		goto out;
	}
	if ((what & BEV_EVENT_EOF) && st->state == MUX_ST_OPEN)
		mux_local_eof(st);
out:
	mux_leave(s);
}

/* Hands local to st: our callbacks, watermarks, reading off until open. */
static void
mux_stream_bind(struct mux_stream *st, struct bufferevent *local)
{
	struct mux_session *s = st->s;
	evutil_socket_t fd = bufferevent_getfd(local);

	st->local = local;
	/* Without the event (out of memory) the bufferevent reads. */
	if (fd >= 0)
		st->rd_ev =
		    event_new(s->base, fd, EV_READ | EV_CLOSED | EV_PERSIST,
		        mux_local_sock_read_cb, st);
	st->out_pending =
	    (uint32_t)evbuffer_get_length(bufferevent_get_output(local));
	bufferevent_setcb(local, mux_local_read_cb, mux_local_write_cb,
	    mux_local_event_cb, st);
	/* A bufferevent_pair moves at most up to our read high watermark,
	 * even when its partner flushes with BEV_FINISHED, and delivers the
	 * EOF anyway: the rest would be lost behind our FIN. Pair ends only
	 * get what their partner wrote, and only while we read. */
	bufferevent_setwatermark(local, EV_READ, 0, fd >= 0 ? s->read_cap : 0);
	bufferevent_setwatermark(local, EV_WRITE, s->stream_window / 2, 0);
	bufferevent_disable(local, EV_READ);
	/* libevent 2.1 registers EPOLLOUT on every enable, even an empty
	 * output's (a wake-up and two epoll_ctl per stream for nothing); a
	 * new socket bufferevent has writing enabled already, and its output
	 * registers the event itself once it holds something. */
	if (!(bufferevent_get_enabled(local) & EV_WRITE))
		bufferevent_enable(local, EV_WRITE);
	st->flags &= ~MUX_F_READING;
}

static struct mux_stream *
mux_stream_create(struct mux_session *s, uint32_t id, uint8_t state)
{
	struct mux_stream *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	if (mux_map_put(&s->streams, id, st) < 0) {
		free(st);
		return NULL;
	}
	st->s = s;
	st->id = id;
	st->state = state;
	TAILQ_INSERT_TAIL(&s->all, st, all);
	s->stats.streams_open = s->streams.count;
	s->stats.streams_total++;
	return st;
}

/* The stream became open: start reading the local and deliver what is
 * already there (the peer's FIN may be waiting too). */
static void
mux_stream_start(struct mux_stream *st)
{
	if (!st->local)
		return; /* detached: mux_stream_attach starts it */
	mux_stream_pump(st, SIZE_MAX);
	if (st->state == MUX_ST_OPEN && (st->flags & MUX_F_FIN_RCVD) &&
	    evbuffer_get_length(bufferevent_get_output(st->local)) == 0)
		mux_stream_deliver_fin(st);
}

/*
 * Incoming frames.
 */

/* Looks up the stream of a stream frame. Returns it, or NULL after
 * handling the unknown id (a violation when it was never opened). */
static struct mux_stream *
mux_frame_stream(struct mux_session *s, uint32_t id, const char *what)
{
	struct mux_stream *st = mux_stream_find(s, id);

	if (st)
		return st;
	if (!mux_id_used(s, id))
		mux_violation(s, WIRE_ERR_PROTOCOL, what);
	return NULL;
}

/* Whether the frame after the len bytes of DATA payload at the start of
 * in is the same stream's FIN (already received whole: it is a header). */
static bool
mux_fin_follows(const struct mux_stream *st, struct evbuffer *in, size_t len)
{
	uint8_t hb[WIRE_HEADER_LEN];
	struct frame_header h;
	struct evbuffer_ptr pos;
	uint32_t err;

	if (evbuffer_get_length(in) < len + WIRE_HEADER_LEN ||
	    evbuffer_ptr_set(in, &pos, len, EVBUFFER_PTR_SET) < 0 ||
	    evbuffer_copyout_from(in, &pos, hb, sizeof(hb)) !=
	        (ev_ssize_t)sizeof(hb) ||
	    frame_decode_header(hb, sizeof(hb), &h, &err) < 0)
		return false;
	return h.type == WIRE_FIN && h.stream_id == st->id && h.length == 0;
}

/*
 * The last DATA before a FIN: sent with MSG_MORE, so the kernel holds the
 * segment and the shutdown() that delivers the FIN right after puts the
 * FIN on it (one segment instead of two: on the TUN path, a packet fewer
 * through the device twice, and the application wakes once). Returns the
 * bytes written (drained from in).
 */
static size_t
mux_local_write_more(evutil_socket_t fd, struct evbuffer *in, size_t len)
{
	struct evbuffer_iovec v[8];
	struct iovec iov[8];
	struct msghdr msg;
	int nv = evbuffer_peek(in, (ev_ssize_t)len, NULL, v, 8);
	size_t want = 0;
	ssize_t n;

	if (nv <= 0)
		return 0;
	if (nv > 8)
		nv = 8;
	for (int i = 0; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = mux_min(v[i].iov_len, len - want);
		want += iov[i].iov_len;
	}
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)nv;
	n = sendmsg(fd, &msg, MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n <= 0)
		return 0;
	evbuffer_drain(in, (size_t)n);
	return (size_t)n;
}

/*
 * Writes up to len bytes of in straight to a socket local whose output is
 * empty, the common case: handing them to the bufferevent would cost an
 * EPOLLOUT registration, a loop turn and a deregistration per message
 * before the same write. What the socket does not take now (or an error,
 * which libevent's own write then meets and reports) goes the usual way.
 * Returns the bytes written (drained from in).
 */
static size_t
mux_local_write_direct(struct mux_stream *st, struct evbuffer *in, size_t len)
{
	evutil_socket_t fd = bufferevent_getfd(st->local);
	int n;

	if (fd < 0 || len == 0 ||
	    evbuffer_get_length(bufferevent_get_output(st->local)) > 0 ||
	    !(bufferevent_get_enabled(st->local) & EV_WRITE))
		return 0;
	if (mux_fin_follows(st, in, len))
		return mux_local_write_more(fd, in, len);
	n = evbuffer_write_atmost(in, fd, (ev_ssize_t)len);
	return n > 0 ? (size_t)n : 0;
}

static void
mux_on_data(
    struct mux_session *s, const struct frame_header *h, struct evbuffer *in)
{
	struct mux_stream *st;
	uint32_t len = h->length;

	if (len > s->conn_recv_window) {
		mux_violation(s, WIRE_ERR_FLOW_CONTROL,
		    "DATA beyond the connection window");
		return;
	}
	st = mux_stream_find(s, h->stream_id);
	if (!st && !mux_id_used(s, h->stream_id)) {
		mux_violation(
		    s, WIRE_ERR_PROTOCOL, "DATA on a stream never opened");
		return;
	}
	s->conn_recv_window -= len;
	s->stats.bytes_in += len;
	evbuffer_drain(in, WIRE_HEADER_LEN);
	if (!st) {
		/* Closed: drop with credit; answer once unless we reset it
		 * ourselves and the DATA was already in flight. */
		if (!mux_recently_reset(s, h->stream_id))
			mux_send_reset(s, h->stream_id, WIRE_ERR_STREAM_CLOSED,
			    "DATA on a closed stream");
		goto discard;
	}
	if (st->state != MUX_ST_OPEN) {
		mux_stream_violation(
		    st, WIRE_ERR_PROTOCOL, "DATA before OPEN_RESULT");
		goto discard;
	}
	if (st->flags & MUX_F_FIN_RCVD) {
		mux_stream_violation(
		    st, WIRE_ERR_STREAM_CLOSED, "DATA after FIN");
		goto discard;
	}
	if (len > st->recv_window) {
		mux_stream_violation(
		    st, WIRE_ERR_FLOW_CONTROL, "DATA beyond the stream window");
		goto discard;
	}
	/* Account before moving: a bufferevent_pair local drains (and runs
	 * our write callback) synchronously. */
	st->recv_window -= len;
	st->out_pending += len;
	st->bytes_in += len;
	if (!st->local && !st->held && !(st->held = evbuffer_new())) {
		mux_session_close(
		    s, WIRE_ERR_INTERNAL, "out of memory", false, false);
		return;
	}
	if (st->local) {
		struct evbuffer *out = bufferevent_get_output(st->local);
		size_t direct = mux_local_write_direct(st, in, len);

		if (s->yield_to_locals && st->rd_ev && st != s->fed_last) {
			s->fed_last = st;
			s->fed++;
		}

		if (direct < len && evbuffer_remove_buffer(in, out,
		                        len - direct) != (int)(len - direct)) {
			mux_session_close(s, WIRE_ERR_INTERNAL, "out of memory",
			    false, false);
			return;
		}
		if (direct > 0) {
			mux_stream_drained(st, evbuffer_get_length(out));
			if ((st->flags & MUX_F_NOTIFY_WR) && st->event_cb)
				st->event_cb(
				    st, MUX_STREAM_WROTE, 0, st->event_arg);
		}
	} else if (evbuffer_remove_buffer(in, st->held, len) != (int)len) {
		mux_session_close(
		    s, WIRE_ERR_INTERNAL, "out of memory", false, false);
		return;
	}
	mux_conn_credit(s, len);
	return;
discard:
	evbuffer_drain(in, len);
	mux_conn_credit(s, len);
}

static int
mux_peer_str(char **ret, const struct frame *f, const char *name)
{
	const struct frame_kv *kv = frame_hello_ext(f, name);
	char *v;

	if (!kv)
		return 0;
	/* Text values: a NUL inside would let readers disagree. */
	if (memchr(kv->value, '\0', kv->value_len))
		return -EPROTO;
	v = malloc(kv->value_len + 1);
	if (!v)
		return -ENOMEM;
	memcpy(v, kv->value, kv->value_len);
	v[kv->value_len] = '\0';
	*ret = v;
	return 0;
}

static void
mux_on_hello(struct mux_session *s, const struct frame *f)
{
	uint8_t peer_role = f->u.hello.role;
	unsigned chosen, floor;
	int ret = 0;

	if (s->state == MUX_S_READY) {
		mux_violation(s, WIRE_ERR_PROTOCOL, "second HELLO");
		return;
	}
	if (peer_role == s->role) {
		mux_violation(s, WIRE_ERR_PROTOCOL, "peer claims our role");
		return;
	}
	chosen = f->u.hello.max_proto < s->max_proto ? f->u.hello.max_proto
	                                             : s->max_proto;
	floor = f->u.hello.min_proto > s->min_proto ? f->u.hello.min_proto
	                                            : s->min_proto;
	if (chosen < floor) {
		mux_violation(
		    s, WIRE_ERR_BAD_VERSION, "no common protocol version");
		return;
	}
	s->peer.role = peer_role;
	s->peer.proto = (uint8_t)chosen;
	s->peer.caps = f->u.hello.caps;
	s->peer.conn_window = f->u.hello.conn_window;
	if ((ret = mux_peer_str(&s->peer.software, f, "software")) < 0 ||
	    (ret = mux_peer_str(&s->peer.namespace_name, f, "namespace")) < 0 ||
	    (ret = mux_peer_str(&s->peer.cluster_domain, f, "cluster-domain")) <
	        0 ||
	    (ret = mux_peer_str(&s->peer.dns_search, f, "dns-search")) < 0 ||
	    (ret = mux_peer_str(&s->peer.subnets, f, "subnets")) < 0 ||
	    (ret = mux_peer_str(&s->peer.server_time, f, "server-time")) < 0) {
		if (ret == -ENOMEM)
			mux_session_close(
			    s, WIRE_ERR_INTERNAL, "out of memory", true, true);
		else
			mux_violation(s, WIRE_ERR_PROTOCOL,
			    "NUL byte in a HELLO extension");
		return;
	}
	s->conn_send_window = f->u.hello.conn_window;
	s->state = MUX_S_READY;
	if (s->log_events)
		log_info("session %u: ready, protocol %u", s->log_id, chosen);
	if (s->cbs.on_ready)
		s->cbs.on_ready(s, &s->peer, s->arg);
}

static void
mux_on_open(struct mux_session *s, const struct frame *f)
{
	uint32_t id = f->h.stream_id;
	const struct frame_addr *dst = &f->u.open.dst;
	struct mux_stream *st;
	uint32_t refuse = WIRE_OK;
	const char *why = NULL;

	if (mux_our_id(s, id)) {
		mux_violation(s, WIRE_ERR_PROTOCOL, "OPEN with our parity");
		return;
	}
	if (id <= s->last_peer_id) {
		mux_violation(s, WIRE_ERR_PROTOCOL, "OPEN id not increasing");
		return;
	}
	s->last_peer_id = id;
	if (s->local_goaway) {
		refuse = WIRE_ERR_SHUTDOWN;
		why = "going away";
	} else if (s->streams.count >= s->max_streams) {
		refuse = WIRE_ERR_RESOURCE;
		why = "too many streams";
	} else if (dst->type == WIRE_ADDR_NAME &&
	           !(s->caps & WIRE_CAP_HOSTNAMES)) {
		refuse = WIRE_ERR_UNSUPPORTED;
		why = "host names not supported";
	} else if (dst->type == WIRE_ADDR_IPV6 && !(s->caps & WIRE_CAP_IPV6)) {
		refuse = WIRE_ERR_UNSUPPORTED;
		why = "IPv6 not supported";
	} else if (!s->cbs.on_open) {
		refuse = WIRE_ERR_PROHIBITED;
		why = "opens not accepted";
	}
	if (refuse == WIRE_OK &&
	    !(st = mux_stream_create(s, id, MUX_ST_PENDING))) {
		refuse = WIRE_ERR_RESOURCE;
		why = "out of memory";
	}
	if (refuse != WIRE_OK) {
		mux_send_open_result(s, id, refuse, 0, why);
		return;
	}
	st->dst = *dst;
	st->send_window = f->u.open.window;
	log_debug(
	    LOG_CAT_MUX, "session %u stream %u: peer open", s->log_id, id);
	s->cbs.on_open(s, st, &st->dst, s->arg);
}

static void
mux_on_open_result(struct mux_session *s, const struct frame *f)
{
	struct mux_stream *st;
	char msg[FRAME_MAX_MESSAGE + 1];

	st = mux_frame_stream(s, f->h.stream_id, "OPEN_RESULT for no OPEN");
	if (!st)
		return;
	if (st->state != MUX_ST_OPENING) {
		mux_stream_violation(
		    st, WIRE_ERR_PROTOCOL, "OPEN_RESULT not from the acceptor");
		return;
	}
	mux_msg(
	    msg, sizeof(msg), f->u.open_result.msg, f->u.open_result.msg_len);
	if (f->u.open_result.error != WIRE_OK) {
		mux_stream_end(st, f->u.open_result.error, msg, true);
		return;
	}
	st->send_window = f->u.open_result.window;
	st->state = MUX_ST_OPEN;
	st->flags &= ~MUX_F_OPEN_CB;
	if (st->open_cb)
		st->open_cb(st, WIRE_OK, msg, st->open_arg);
	if (st->state == MUX_ST_OPEN)
		mux_stream_start(st);
}

static void
mux_on_window(struct mux_session *s, const struct frame *f)
{
	uint32_t inc = f->u.window.increment;
	struct mux_stream *st;

	if (f->h.stream_id == 0) {
		if (inc > WIRE_MAX_WINDOW - s->conn_send_window) {
			mux_violation(s, WIRE_ERR_FLOW_CONTROL,
			    "connection window overflow");
			return;
		}
		s->conn_send_window += inc;
		mux_run_queue(s);
		return;
	}
	st = mux_frame_stream(s, f->h.stream_id, "WINDOW for no stream");
	if (!st)
		return;
	if (st->state != MUX_ST_OPEN) {
		/* Nothing was received that needs credit before the stream
		 * is open, whoever opened it. */
		mux_stream_violation(
		    st, WIRE_ERR_PROTOCOL, "WINDOW before OPEN_RESULT");
		return;
	}
	if (inc > WIRE_MAX_WINDOW - st->send_window) {
		mux_stream_violation(
		    st, WIRE_ERR_FLOW_CONTROL, "stream window overflow");
		return;
	}
	st->send_window += inc;
	if (st->state == MUX_ST_OPEN && !(st->flags & MUX_F_QUEUED))
		mux_stream_pump(st, SIZE_MAX);
}

static void
mux_on_fin(struct mux_session *s, const struct frame *f)
{
	struct mux_stream *st;

	st = mux_frame_stream(s, f->h.stream_id, "FIN for no stream");
	if (!st)
		return;
	if (st->state != MUX_ST_OPEN) {
		mux_stream_violation(
		    st, WIRE_ERR_PROTOCOL, "FIN before OPEN_RESULT");
		return;
	}
	if (st->flags & MUX_F_FIN_RCVD) {
		mux_stream_violation(st, WIRE_ERR_STREAM_CLOSED, "second FIN");
		return;
	}
	st->flags |= MUX_F_FIN_RCVD;
	if (!st->local)
		return; /* delivered after mux_stream_attach */
	if (evbuffer_get_length(bufferevent_get_output(st->local)) == 0) {
		mux_stream_deliver_fin(st);
		return;
	}
	/* Deliver once the output is empty: the write callback then fires
	 * only at length 0. */
	bufferevent_setwatermark(st->local, EV_WRITE, 0, 0);
}

static void
mux_on_reset(struct mux_session *s, const struct frame *f)
{
	struct mux_stream *st;
	char msg[FRAME_MAX_MESSAGE + 1];
	uint32_t err = f->u.reset.error ? f->u.reset.error : WIRE_ERR_CANCEL;

	st = mux_frame_stream(s, f->h.stream_id, "RESET for no stream");
	if (!st)
		return;
	mux_msg(msg, sizeof(msg), f->u.reset.msg, f->u.reset.msg_len);
	log_debug(LOG_CAT_MUX, "session %u stream %u: peer reset %s", s->log_id,
	    st->id, wire_error_name(err));
	mux_stream_end(st, err, msg, true);
}

static void
mux_on_goaway(struct mux_session *s, const struct frame *f)
{
	char msg[FRAME_MAX_MESSAGE + 1];
	uint32_t last = f->u.goaway.last_stream_id, err = f->u.goaway.error;
	uint32_t *ids = NULL;
	size_t n = 0;
	struct mux_stream *st;

	mux_msg(msg, sizeof(msg), f->u.goaway.msg, f->u.goaway.msg_len);
	log_debug(LOG_CAT_MUX, "session %u: peer GOAWAY %s last %u", s->log_id,
	    wire_error_name(err), last);
	if (!s->peer_goaway && !s->local_goaway) {
		free(s->goaway_msg);
		s->goaway_msg = strdup(msg);
		s->goaway_err = err;
	}
	s->peer_goaway = true;
	if (s->cbs.on_goaway)
		s->cbs.on_goaway(s, err, msg, s->arg);
	if (s->state != MUX_S_READY)
		return;
	if (err != WIRE_OK && err != WIRE_ERR_SHUTDOWN) {
		/* An error: the peer is closing now. */
		mux_session_close(s, err, msg, false, false);
		return;
	}
	/* Our opens the peer will not process fail now. Collect first: the
	 * callbacks may end other streams. */
	if (s->streams.count > 0)
		ids = calloc(s->streams.count, sizeof(*ids));
	TAILQ_FOREACH(st, &s->all, all)
	{
		if (ids && st->state == MUX_ST_OPENING && st->id > last)
			ids[n++] = st->id;
	}
	for (size_t i = 0; i < n && s->state == MUX_S_READY; i++) {
		st = mux_stream_find(s, ids[i]);
		if (st)
			mux_stream_end(st, WIRE_ERR_SHUTDOWN, msg, true);
	}
	free(ids);
	mux_check_drained(s);
}

static void
mux_on_dns_query(struct mux_session *s, const struct frame *f)
{
	if (!(s->caps & WIRE_CAP_DNS) || !s->cbs.on_dns_query) {
		mux_send_dns_answer(
		    s, f->u.dns_query.id, WIRE_ERR_UNSUPPORTED, NULL, 0);
		return;
	}
	s->cbs.on_dns_query(s, f->u.dns_query.id, f->u.dns_query.msg,
	    f->u.dns_query.msg_len, s->arg);
}

static void
mux_on_dns_answer(struct mux_session *s, const struct frame *f)
{
	uint32_t id = f->u.dns_answer.id;

	if ((uintptr_t)mux_map_get(&s->requests, id) != MUX_REQ_DNS)
		return; /* unknown or cancelled: ignored */
	mux_map_del(&s->requests, id);
	if (s->cbs.on_dns_answer)
		s->cbs.on_dns_answer(s, id, f->u.dns_answer.error,
		    f->u.dns_answer.msg, f->u.dns_answer.msg_len, s->arg);
	mux_check_drained(s);
}

static void
mux_on_env_request(struct mux_session *s, const struct frame *f)
{
	if (!(s->caps & WIRE_CAP_ENV) || !s->cbs.on_env_request) {
		mux_send_env_reply(
		    s, f->u.env_request.id, WIRE_ERR_UNSUPPORTED, NULL, 0);
		return;
	}
	s->cbs.on_env_request(s, f->u.env_request.id, s->arg);
}

static void
mux_on_env_reply(struct mux_session *s, const struct frame *f)
{
	uint32_t id = f->u.env_reply.id;

	if ((uintptr_t)mux_map_get(&s->requests, id) != MUX_REQ_ENV)
		return;
	mux_map_del(&s->requests, id);
	if (s->cbs.on_env_reply)
		s->cbs.on_env_reply(s, id, f->u.env_reply.error, f, s->arg);
	mux_check_drained(s);
}

static void
mux_dispatch(struct mux_session *s, const struct frame *f)
{
	if (s->state != MUX_S_READY && f->h.type != WIRE_HELLO) {
		mux_violation(s, WIRE_ERR_PROTOCOL, "frame before HELLO");
		return;
	}
	switch (f->h.type) {
	case WIRE_HELLO:
		mux_on_hello(s, f);
		break;
	case WIRE_PING:
		mux_send_ping(s, WIRE_PONG, f->u.ping.opaque);
		break;
	case WIRE_PONG:
		if (s->ping_outstanding && f->u.ping.opaque == s->ping_opaque) {
			uint64_t rtt = monotime_us() - s->ping_opaque;

			s->stats.rtt_us =
			    rtt > UINT32_MAX ? UINT32_MAX : (uint32_t)rtt;
			s->ping_outstanding = false;
		}
		break;
	case WIRE_GOAWAY:
		mux_on_goaway(s, f);
		break;
	case WIRE_OPEN:
		mux_on_open(s, f);
		break;
	case WIRE_OPEN_RESULT:
		mux_on_open_result(s, f);
		break;
	case WIRE_WINDOW:
		mux_on_window(s, f);
		break;
	case WIRE_FIN:
		mux_on_fin(s, f);
		break;
	case WIRE_RESET:
		mux_on_reset(s, f);
		break;
	case WIRE_DNS_QUERY:
		mux_on_dns_query(s, f);
		break;
	case WIRE_DNS_ANSWER:
		mux_on_dns_answer(s, f);
		break;
	case WIRE_ENV_REQUEST:
		mux_on_env_request(s, f);
		break;
	case WIRE_ENV_REPLY:
		mux_on_env_reply(s, f);
		break;
	default:
		/* frame_decode_header() passes only known types. */
		mux_violation(s, WIRE_ERR_UNKNOWN_TYPE, "unknown frame type");
		break;
	}
}

/* Decodes and handles every whole frame in the carrier's input. */
static void
mux_process_input(struct mux_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->carrier);

	while ((s->state == MUX_S_HELLO || s->state == MUX_S_READY) &&
	       !s->carrier_paused) {
		uint8_t hb[WIRE_HEADER_LEN];
		struct frame_header h;
		struct frame f;
		uint32_t err = WIRE_ERR_PROTOCOL;
		size_t len = evbuffer_get_length(in);
		uint8_t *p;
		int r;

		if (len < WIRE_HEADER_LEN)
			break;
		evbuffer_copyout(in, hb, sizeof(hb));
		if (frame_decode_header(hb, sizeof(hb), &h, &err) < 0) {
			mux_violation(s, err, "bad frame header");
			break;
		}
		if (len - WIRE_HEADER_LEN < h.length)
			break;
		s->stats.frames_in++;
		if (h.type == WIRE_DATA && s->state == MUX_S_READY) {
			mux_on_data(s, &h, in);
			continue;
		}
		p = evbuffer_pullup(
		    in, (ev_ssize_t)(WIRE_HEADER_LEN + h.length));
		if (!p) {
			mux_session_close(
			    s, WIRE_ERR_INTERNAL, "out of memory", true, true);
			break;
		}
		r = frame_decode(p, WIRE_HEADER_LEN + h.length, &f, &err);
		if (r <= 0) {
			mux_violation(s, err, "malformed frame");
			break;
		}
		mux_dispatch(s, &f);
		/* f borrows from the input until here. */
		evbuffer_drain(in, (size_t)r);
	}
	/* A peer that never reads our answers does not grow our memory. */
	if (s->state == MUX_S_READY && !s->carrier_paused &&
	    mux_carrier_out_len(s) > s->out_cap * MUX_CARRIER_PAUSE_FACTOR) {
		s->carrier_paused = true;
		bufferevent_disable(s->carrier, EV_READ);
	}
}

static void mux_carrier_ended(struct mux_session *s, short what);

/*
 * Yield to the applications fed (mux.h, yield_to_locals). Without it, an
 * application sharing our CPU only runs once we sleep, after all the
 * input that arrived meanwhile was handled: the answers to the first
 * record wait for the last, and the two ends of the tunnel take turns.
 * A long yield is another task's slice (a CPU-bound task the scheduler
 * picked instead): yielding would cost us one each time, so it pauses.
 */
static void
mux_yield_to_locals(struct mux_session *s)
{
	uint64_t t0, t1;

	if (!s->yield_to_locals || s->fed < MUX_YIELD_MIN_FED)
		return;
	t0 = monotime_us();
	if (t0 < s->yield_paused_until_us)
		return;
	if (s->yield)
		s->yield();
	else
		sched_yield();
	t1 = monotime_us();
	if (t1 - t0 >= MUX_YIELD_LONG_US)
		s->yield_paused_until_us =
		    t1 + (uint64_t)MUX_YIELD_PAUSE_MS * 1000u;
}

/*
 * Processes the carrier's input and, for a TLS carrier, what its TLS layer
 * and socket hold beyond the one record libevent decrypts per wakeup, in
 * bounded rounds; then yields the loop, coming back through a deferred
 * read callback when decrypted-to-be bytes are still held (the socket
 * will not signal them again).
 */
static void
mux_carrier_input(struct mux_session *s)
{
	int round, r;

	for (round = 0;; round++) {
		mux_process_input(s);
		if ((s->state != MUX_S_HELLO && s->state != MUX_S_READY) ||
		    s->carrier_paused)
			return;
		if (round == MUX_PULL_ROUNDS) {
			if (tlsout_pull_pending(s->carrier))
				bufferevent_trigger(s->carrier, EV_READ,
				    BEV_TRIG_IGNORE_WATERMARKS |
				        BEV_TRIG_DEFER_CALLBACKS);
			return;
		}
		r = tlsout_pull(s->carrier, MUX_PULL_MAX);
		if (r == 0)
			return;
		if (r < 0) {
			/* What was decrypted is processed; then the end. */
			mux_process_input(s);
			mux_carrier_ended(
			    s, r == -EPIPE ? BEV_EVENT_EOF : BEV_EVENT_ERROR);
			return;
		}
	}
}

/*
 * Send, then handle. The carrier's callbacks are deferred (tlsconf), so
 * this runs after the locals that were ready in the same turn were read,
 * but before the end of the turn, where what they produced would go out.
 * Handling the peer's input can take long (a write per stream, each
 * waking its application, which on a busy CPU runs before we go on), and
 * the peer would wait for those frames meanwhile: they go first.
 */
static void
mux_carrier_read_cb(struct bufferevent *bev, void *arg)
{
	struct mux_session *s = arg;

	mux_enter(s);
	s->last_rx_ms = monotime_ms();
	if (s->state >= MUX_S_CLOSING) {
		/* Decided to close: whatever the peer still sends is
		 * dropped (reading stays on so a pair peer can take our
		 * GOAWAY). */
		struct evbuffer *in = bufferevent_get_input(bev);

		evbuffer_drain(in, evbuffer_get_length(in));
	} else {
		if (s->tlsout)
			tlsout_flush_now(bev);
		s->fed = 0;
		s->fed_last = NULL;
		mux_carrier_input(s);
		mux_yield_to_locals(s);
	}
	mux_leave(s);
}

static void
mux_carrier_write_cb(struct bufferevent *bev, void *arg)
{
	struct mux_session *s = arg;

	mux_enter(s);
	if (s->state == MUX_S_CLOSING) {
		if (mux_carrier_out_len(s) == 0)
			mux_session_finish(s);
		goto out;
	}
	if (s->state != MUX_S_READY)
		goto out;
	if (s->carrier_paused && mux_carrier_out_len(s) <= s->out_cap) {
		s->carrier_paused = false;
		bufferevent_enable(s->carrier, EV_READ);
		mux_carrier_input(s);
	}
	mux_run_queue(s);
out:
	mux_leave(s);
}

/* The carrier ended (EOF or error, as the BEV_EVENT_* in what). */
static void
mux_carrier_ended(struct mux_session *s, short what)
{
	struct bufferevent *bev = s->carrier;
	char reason[128];

	if (s->state == MUX_S_CLOSING) {
		mux_session_finish(s);
		return;
	}
	if (s->state == MUX_S_CLOSED || s->state == MUX_S_NEW)
		return;
	if (what & BEV_EVENT_ERROR) {
		int e = EVUTIL_SOCKET_ERROR();

		snprintf(reason, sizeof(reason), "connection failed: %s",
		    e ? evutil_socket_error_to_string(e) : "TLS error");
		mux_session_close(s, WIRE_ERR_CONN_RESET, reason, false, false);
	} else if (s->peer_goaway) {
		mux_session_close(s,
		    s->goaway_err ? s->goaway_err : WIRE_ERR_SHUTDOWN,
		    s->goaway_msg, false, false);
	} else if (evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
		mux_session_close(s, WIRE_ERR_TRUNCATED,
		    "connection ended inside a frame", false, false);
	} else {
		mux_session_close(s, WIRE_ERR_SHUTDOWN,
		    "connection closed by the peer", false, false);
	}
}

/* A tlsout carrier wrote and has at most out_cap / 2 bytes left: what a
 * bufferevent's write callback means. */
static void
mux_carrier_drained(void *arg)
{
	struct mux_session *s = arg;

	mux_carrier_write_cb(s->carrier, s);
}

static void
mux_carrier_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct mux_session *s = arg;

	mux_enter(s);
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		mux_carrier_ended(s, what);
	mux_leave(s);
}

/*
 * Keepalive: one timer that fires at the next PING or the dead-peer
 * deadline, whichever comes first; it doubles as the flush deadline.
 */

static void
mux_arm_timer(struct mux_session *s, uint64_t delay_ms)
{
	struct timeval tv;

	if (delay_ms == 0)
		delay_ms = 1;
	tv.tv_sec = (time_t)(delay_ms / 1000);
	tv.tv_usec = (suseconds_t)(delay_ms % 1000) * 1000;
	evtimer_add(s->timer, &tv);
}

static void
mux_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mux_session *s = arg;
	uint64_t now = monotime_ms(), next_ping, dead_at;

	mux_enter(s);
	if (s->state == MUX_S_CLOSING) {
		/* The flush deadline passed. */
		mux_session_finish(s);
		goto out;
	}
	if (s->state != MUX_S_HELLO && s->state != MUX_S_READY)
		goto out;
	dead_at = s->last_rx_ms + s->dead_ms;
	if (now >= dead_at) {
		mux_session_close(s, WIRE_ERR_TIMEOUT,
		    "peer did not answer (keepalive timeout)", true, false);
		goto out;
	}
	/* Nothing but HELLO goes out before the peer's HELLO is accepted;
	 * until then only the dead-peer deadline runs. */
	if (s->state == MUX_S_READY && now >= s->last_ping_ms + s->ping_ms) {
		s->ping_opaque = monotime_us();
		s->ping_outstanding = true;
		s->last_ping_ms = now;
		mux_send_ping(s, WIRE_PING, s->ping_opaque);
	}
	next_ping = s->last_ping_ms + s->ping_ms;
	if (next_ping <= now)
		next_ping = now + s->ping_ms;
	mux_arm_timer(s, (next_ping < dead_at ? next_ping : dead_at) - now);
out:
	mux_leave(s);
}

/*
 * Public API: sessions.
 */

void
mux_config_init(struct mux_config *cfg, uint8_t role)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->role = role;
	cfg->stream_window = WIRE_DEFAULT_STREAM_WINDOW;
	cfg->conn_window = WIRE_DEFAULT_CONN_WINDOW;
	cfg->ping_interval_ms = MUX_DEFAULT_PING_INTERVAL_MS;
	cfg->dead_peer_ms = MUX_DEFAULT_DEAD_PEER_MS;
	cfg->max_streams = MUX_DEFAULT_MAX_STREAMS;
	cfg->stream_read_cap = MUX_DEFAULT_STREAM_READ_CAP;
	cfg->carrier_out_cap = MUX_DEFAULT_CARRIER_OUT_CAP;
}

static bool
mux_window_ok(uint32_t w)
{
	return w >= 1 && w <= WIRE_MAX_WINDOW;
}

/* Encodes our HELLO from cfg into s->hello. */
static int
mux_encode_hello(struct mux_session *s, const struct mux_config *cfg)
{
	struct frame *f;
	int ret, size;

	if (cfg->n_ext > FRAME_MAX_EXTENSIONS)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->h.type = WIRE_HELLO;
	f->u.hello.role = s->role;
	f->u.hello.min_proto = s->min_proto;
	f->u.hello.max_proto = s->max_proto;
	f->u.hello.caps = s->caps;
	f->u.hello.conn_window = s->conn_window;
	f->u.hello.n_ext = cfg->n_ext;
	for (size_t i = 0; i < cfg->n_ext; i++) {
		if (!cfg->ext[i].name || !cfg->ext[i].value) {
			ret = -EINVAL;
			goto out;
		}
		f->u.hello.ext[i].name = cfg->ext[i].name;
		f->u.hello.ext[i].name_len =
		    strnlen(cfg->ext[i].name, FRAME_MAX_EXT_NAME + 1);
		f->u.hello.ext[i].value = cfg->ext[i].value;
		f->u.hello.ext[i].value_len =
		    strnlen(cfg->ext[i].value, FRAME_MAX_EXT_VALUE + 1);
	}
	size = frame_encoded_size(f);
	if (size < 0) {
		ret = -EINVAL;
		goto out;
	}
	s->hello = malloc((size_t)size);
	if (!s->hello) {
		ret = -ENOMEM;
		goto out;
	}
	ret = frame_encode(f, s->hello, (size_t)size);
	if (ret < 0) {
		free(s->hello);
		s->hello = NULL;
		ret = -EINVAL;
		goto out;
	}
	s->hello_len = (size_t)ret;
	ret = 0;
out:
	free(f);
	return ret;
}

int
mux_session_new(struct event_base *base, struct bufferevent *carrier,
    const struct mux_config *cfg, const struct mux_callbacks *cbs, void *arg,
    struct mux_session **ret_session)
{
	struct mux_session *s = NULL;
	int ret;

	if (!base || !carrier || !cfg ||
	    (cfg->role != WIRE_ROLE_CLIENT && cfg->role != WIRE_ROLE_SERVER) ||
	    !mux_window_ok(cfg->stream_window) ||
	    !mux_window_ok(cfg->conn_window) || cfg->ping_interval_ms == 0 ||
	    cfg->dead_peer_ms == 0 || cfg->max_streams == 0 ||
	    cfg->stream_read_cap == 0 || cfg->carrier_out_cap == 0)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base = base;
	if (cbs)
		s->cbs = *cbs;
	s->arg = arg;
	s->role = cfg->role;
	s->min_proto = cfg->min_proto ? cfg->min_proto : WIRE_PROTO_MIN;
	s->max_proto = cfg->max_proto ? cfg->max_proto : WIRE_PROTO_MAX;
	s->caps = cfg->caps;
	s->stream_window = cfg->stream_window;
	s->conn_window = cfg->conn_window;
	s->ping_ms = cfg->ping_interval_ms;
	s->dead_ms = cfg->dead_peer_ms;
	s->max_streams = cfg->max_streams;
	s->read_cap = cfg->stream_read_cap;
	s->out_cap = cfg->carrier_out_cap;
	s->log_id = cfg->log_id;
	s->log_events = cfg->log_events;
	s->yield_to_locals = cfg->yield_to_locals;
	s->yield = cfg->yield;
	s->next_id = cfg->role == WIRE_ROLE_CLIENT ? 1 : 2;
	s->next_req_id = 1;
	s->conn_recv_window = cfg->conn_window;
	TAILQ_INIT(&s->all);
	TAILQ_INIT(&s->waitq);
	if (s->min_proto > s->max_proto) {
		ret = -EINVAL;
		goto fail;
	}
	ret = mux_encode_hello(s, cfg);
	if (ret < 0)
		goto fail;
	s->out = tlsout_output(carrier);
	s->tlsout = s->out != NULL;
	s->timer = evtimer_new(base, mux_timer_cb, s);
	if (s->tlsout)
		s->frame = evbuffer_new();
	if (!s->timer || (s->tlsout && !s->frame)) {
		ret = -ENOMEM;
		goto fail;
	}
	s->carrier = carrier;
	bufferevent_disable(carrier, EV_READ);
	bufferevent_setcb(carrier, mux_carrier_read_cb, mux_carrier_write_cb,
	    mux_carrier_event_cb, s);
	bufferevent_setwatermark(carrier, EV_READ, 0, 0);
	bufferevent_setwatermark(carrier, EV_WRITE, s->out_cap / 2, 0);
	bufferevent_set_max_single_read(carrier, WIRE_MAX_PAYLOAD);
	bufferevent_set_max_single_write(carrier, WIRE_MAX_PAYLOAD);
	if (s->tlsout)
		tlsout_set_drain_cb(
		    carrier, mux_carrier_drained, s, s->out_cap / 2);
	else
		s->out = bufferevent_get_output(carrier);
	*ret_session = s;
	return 0;
fail:
	if (s->timer)
		event_free(s->timer);
	if (s->frame)
		evbuffer_free(s->frame);
	free(s->hello);
	free(s);
	return ret;
}

int
mux_session_start(struct mux_session *s)
{
	if (s->state >= MUX_S_CLOSING || s->destroying)
		return -ENOTCONN;
	if (s->state != MUX_S_NEW)
		return -EALREADY;
	s->state = MUX_S_HELLO;
	mux_send_raw(s, s->hello, s->hello_len);
	free(s->hello);
	s->hello = NULL;
	s->last_rx_ms = s->last_ping_ms = monotime_ms();
	mux_arm_timer(s, s->ping_ms < s->dead_ms ? s->ping_ms : s->dead_ms);
	bufferevent_enable(s->carrier, EV_READ | EV_WRITE);
	if (s->log_events)
		log_info("session %u: started", s->log_id);
	/* Bytes may already wait (a pair carrier filled before start); they
	 * are read on the next loop turn by a deferred read callback or
	 * the next arrival. */
	if (evbuffer_get_length(bufferevent_get_input(s->carrier)) > 0 ||
	    tlsout_pull_pending(s->carrier))
		bufferevent_trigger(
		    s->carrier, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
	return 0;
}

int
mux_session_goaway(struct mux_session *s, uint32_t error, const char *msg)
{
	if (s->state >= MUX_S_CLOSING || s->destroying)
		return -ENOTCONN;
	if (s->local_goaway)
		return -EALREADY;
	mux_enter(s);
	s->local_goaway = true;
	if (!s->peer_goaway) {
		s->goaway_err = error;
		free(s->goaway_msg);
		s->goaway_msg = strdup(msg ? msg : "");
	}
	if (s->state == MUX_S_NEW) {
		/* Nothing was said yet: close without a word. */
		mux_session_close(s, error, msg, false, false);
	} else {
		mux_send_goaway(s, error, msg);
		if (s->state != MUX_S_READY)
			mux_session_close(s, error, msg, false, true);
		else
			mux_check_drained(s);
	}
	mux_leave(s);
	return 0;
}

static void
mux_session_destroy(struct mux_session *s)
{
	struct mux_stream *st;

	s->destroying = true;
	s->depth++;
	if (s->state < MUX_S_CLOSED)
		s->state = MUX_S_CLOSED;
	while ((st = TAILQ_FIRST(&s->all)))
		mux_stream_end(st, WIRE_ERR_SHUTDOWN, "session freed", true);
	mux_reap(s);
	mux_map_clear(&s->streams);
	mux_map_clear(&s->requests);
	if (s->timer)
		event_free(s->timer);
	if (s->frame)
		evbuffer_free(s->frame);
	if (s->carrier) {
		tlsout_set_drain_cb(s->carrier, NULL, NULL, 0);
		bufferevent_free(s->carrier);
	}
	free(s->peer.software);
	free(s->peer.namespace_name);
	free(s->peer.cluster_domain);
	free(s->peer.dns_search);
	free(s->peer.subnets);
	free(s->peer.server_time);
	free(s->goaway_msg);
	free(s->hello);
	free(s);
}

void
mux_session_free(struct mux_session *s)
{
	if (!s || s->free_requested)
		return;
	s->free_requested = true;
	if (s->depth == 0)
		mux_session_destroy(s);
}

bool
mux_session_is_ready(const struct mux_session *s)
{
	return s->state == MUX_S_READY && !s->destroying;
}

bool
mux_session_is_closed(const struct mux_session *s)
{
	return s->state >= MUX_S_CLOSING || s->destroying;
}

const struct mux_peer_info *
mux_session_peer(const struct mux_session *s)
{
	return s->peer.role ? &s->peer : NULL;
}

unsigned
mux_session_stream_count(const struct mux_session *s)
{
	return s->streams.count;
}

void
mux_session_stats(const struct mux_session *s, struct mux_stats *ret)
{
	*ret = s->stats;
	ret->streams_open = s->streams.count;
}

struct event_base *
mux_session_base(const struct mux_session *s)
{
	return s->base;
}

/*
 * Public API: streams.
 */

int
mux_stream_open(struct mux_session *s, const struct frame_addr *dst,
    struct bufferevent *local, mux_open_cb cb, void *arg,
    struct mux_stream **ret_stream)
{
	struct mux_stream *st;
	struct frame f;
	uint8_t buf[MUX_SMALL_FRAME];
	int n;

	if (s->state != MUX_S_READY || s->destroying)
		return -ENOTCONN;
	if (s->local_goaway || s->peer_goaway)
		return -ESHUTDOWN;
	if (!dst)
		return -EINVAL;
	if ((dst->type == WIRE_ADDR_NAME &&
	        !(s->peer.caps & WIRE_CAP_HOSTNAMES)) ||
	    (dst->type == WIRE_ADDR_IPV6 && !(s->peer.caps & WIRE_CAP_IPV6)))
		return -EOPNOTSUPP;
	if (s->streams.count >= s->max_streams)
		return -ENOBUFS;
	if (s->next_id > UINT32_MAX)
		return -ERANGE;
	memset(&f, 0, sizeof(f));
	f.h.type = WIRE_OPEN;
	f.h.stream_id = (uint32_t)s->next_id;
	f.u.open.dst = *dst;
	f.u.open.transport = WIRE_TRANSPORT_TCP;
	f.u.open.window = s->stream_window;
	n = frame_encode(&f, buf, sizeof(buf));
	if (n < 0)
		return -EINVAL;
	st = mux_stream_create(s, (uint32_t)s->next_id, MUX_ST_OPENING);
	if (!st)
		return -ENOMEM;
	s->next_id += 2;
	st->dst = *dst;
	st->open_cb = cb;
	st->open_arg = arg;
	st->flags |= MUX_F_OPEN_CB;
	st->recv_window = s->stream_window;
	if (local)
		mux_stream_bind(st, local);
	else
		st->flags |= MUX_F_DETACHED;
	mux_send_raw(s, buf, (size_t)n);
	log_debug(LOG_CAT_MUX, "session %u stream %u: open", s->log_id, st->id);
	if (ret_stream)
		*ret_stream = st;
	return 0;
}

int
mux_stream_accept(struct mux_stream *st, struct bufferevent *local)
{
	struct mux_session *s = st->s;

	if (st->state == MUX_ST_DEAD || s->state != MUX_S_READY ||
	    s->destroying)
		return -ENOTCONN;
	if (st->state != MUX_ST_PENDING)
		return -EALREADY;
	if (!local)
		return -EINVAL;
	mux_enter(s);
	st->recv_window = s->stream_window;
	mux_stream_bind(st, local);
	mux_send_open_result(s, st->id, WIRE_OK, s->stream_window, NULL);
	st->state = MUX_ST_OPEN;
	mux_stream_start(st);
	mux_leave(s);
	return 0;
}

int
mux_stream_attach(struct mux_stream *st, struct bufferevent *local)
{
	struct mux_session *s = st->s;
	struct evbuffer *out;

	if (st->state == MUX_ST_DEAD || s->state != MUX_S_READY ||
	    s->destroying)
		return -ENOTCONN;
	if (!(st->flags & MUX_F_DETACHED))
		return -EALREADY;
	if (!local)
		return -EINVAL;
	out = bufferevent_get_output(local);
	if (st->held) {
		/* Not while local may write: a bufferevent_pair would pass
		 * the bytes on at once, before bind counts them pending (and
		 * their credit would never be granted). bind enables it. */
		short was = bufferevent_get_enabled(local);

		bufferevent_disable(local, EV_WRITE);
		if (evbuffer_add_buffer(out, st->held) < 0) {
			bufferevent_enable(local, was & EV_WRITE);
			return -ENOMEM;
		}
	}
	mux_enter(s);
	if (st->held) {
		evbuffer_free(st->held);
		st->held = NULL;
	}
	st->flags &= ~MUX_F_DETACHED;
	/* bind counts the whole output as pending: the held bytes (the peer
	 * spent window on them; their drain grants it back) and whatever
	 * the owner left there, as for any local. */
	mux_stream_bind(st, local);
	if (st->state == MUX_ST_OPEN) {
		/* A FIN that came while detached is delivered once the held
		 * bytes are written (the write callback fires at 0). */
		if ((st->flags & MUX_F_FIN_RCVD) &&
		    evbuffer_get_length(out) > 0)
			bufferevent_setwatermark(local, EV_WRITE, 0, 0);
		mux_stream_start(st);
	}
	mux_leave(s);
	return 0;
}

int
mux_stream_reject(struct mux_stream *st, uint32_t error, const char *msg)
{
	struct mux_session *s = st->s;

	if (error == WIRE_OK)
		return -EINVAL;
	if (st->state == MUX_ST_DEAD)
		return -ENOTCONN;
	if (st->state != MUX_ST_PENDING)
		return -EALREADY;
	mux_enter(s);
	mux_send_open_result(s, st->id, error, 0, msg);
	mux_stream_end(st, error, msg, true);
	mux_leave(s);
	return 0;
}

int
mux_stream_reset(struct mux_stream *st, uint32_t error, const char *msg)
{
	struct mux_session *s = st->s;

	if (st->state == MUX_ST_DEAD)
		return -ENOTCONN;
	if (error == WIRE_OK)
		error = WIRE_ERR_CANCEL;
	mux_enter(s);
	if (st->state == MUX_ST_PENDING)
		mux_send_open_result(s, st->id, error, 0, msg);
	else
		mux_send_reset(s, st->id, error, msg);
	if (st->flags & MUX_F_OPEN_CB) {
		st->flags &= ~MUX_F_OPEN_CB;
		if (st->open_cb)
			st->open_cb(
			    st, WIRE_ERR_CANCEL, msg ? msg : "", st->open_arg);
	}
	mux_stream_end(st, error, msg, true);
	mux_leave(s);
	return 0;
}

void
mux_stream_set_event_cb(
    struct mux_stream *st, mux_stream_event_cb cb, void *arg)
{
	st->event_cb = cb;
	st->event_arg = arg;
}

void
mux_stream_read_soon(struct mux_stream *st)
{
	if (st && st->rd_ev && (st->flags & MUX_F_READING))
		event_active(st->rd_ev, EV_READ, 1);
}

void
mux_stream_notify_writes(struct mux_stream *st)
{
	if (st)
		st->flags |= MUX_F_NOTIFY_WR;
}

void
mux_stream_set_user(struct mux_stream *st, void *user)
{
	st->user = user;
}

void *
mux_stream_get_user(const struct mux_stream *st)
{
	return st->user;
}

uint32_t
mux_stream_id(const struct mux_stream *st)
{
	return st->id;
}

const struct frame_addr *
mux_stream_dst(const struct mux_stream *st)
{
	return &st->dst;
}

struct mux_session *
mux_stream_session(const struct mux_stream *st)
{
	return st->s;
}

void
mux_stream_bytes(
    const struct mux_stream *st, uint64_t *ret_in, uint64_t *ret_out)
{
	if (ret_in)
		*ret_in = st->bytes_in;
	if (ret_out)
		*ret_out = st->bytes_out;
}

/*
 * Public API: requests.
 */

static int
mux_request_new(struct mux_session *s, uintptr_t kind, uint32_t *ret_id)
{
	uint32_t id;
	int ret;

	if (s->requests.count >= MUX_MAX_PENDING_REQUESTS)
		return -ENOBUFS;
	do {
		id = s->next_req_id++;
	} while (id == 0 || mux_map_get(&s->requests, id));
	ret = mux_map_put(&s->requests, id, (void *)kind);
	if (ret < 0)
		return ret;
	*ret_id = id;
	return 0;
}

int
mux_send_dns_query(
    struct mux_session *s, const uint8_t *msg, size_t len, uint32_t *ret_id)
{
	uint8_t hdr[WIRE_HEADER_LEN + 4];
	struct evbuffer *out;
	uint32_t id;
	int ret;

	if (s->state != MUX_S_READY || s->destroying)
		return -ENOTCONN;
	if (!(s->peer.caps & WIRE_CAP_DNS))
		return -EOPNOTSUPP;
	if (!msg || len < FRAME_DNS_MIN || len > FRAME_DNS_MAX)
		return -EINVAL;
	ret = mux_request_new(s, MUX_REQ_DNS, &id);
	if (ret < 0)
		return ret;
	frame_encode_header(hdr, WIRE_DNS_QUERY, 0, (uint32_t)(4 + len));
	wire_put_u32(hdr + WIRE_HEADER_LEN, id);
	out = s->out;
	if (evbuffer_expand(out, sizeof(hdr) + len) < 0) {
		mux_map_del(&s->requests, id);
		return -ENOMEM;
	}
	evbuffer_add(out, hdr, sizeof(hdr));
	evbuffer_add(out, msg, len);
	s->stats.frames_out++;
	*ret_id = id;
	return 0;
}

int
mux_cancel_dns_query(struct mux_session *s, uint32_t id)
{
	if ((uintptr_t)mux_map_get(&s->requests, id) != MUX_REQ_DNS)
		return -ENOENT;
	mux_map_del(&s->requests, id);
	mux_enter(s);
	mux_check_drained(s);
	mux_leave(s);
	return 0;
}

int
mux_send_dns_answer(struct mux_session *s, uint32_t id, uint32_t error,
    const uint8_t *msg, size_t len)
{
	uint8_t hdr[WIRE_HEADER_LEN + 8];
	struct evbuffer *out;

	if (s->state != MUX_S_READY || s->destroying)
		return -ENOTCONN;
	if (error == WIRE_OK
	        ? (!msg || len < FRAME_DNS_MIN || len > FRAME_DNS_MAX)
	        : len != 0)
		return -EINVAL;
	frame_encode_header(hdr, WIRE_DNS_ANSWER, 0, (uint32_t)(8 + len));
	wire_put_u32(hdr + WIRE_HEADER_LEN, id);
	wire_put_u32(hdr + WIRE_HEADER_LEN + 4, error);
	out = s->out;
	if (evbuffer_expand(out, sizeof(hdr) + len) < 0)
		return -ENOMEM;
	evbuffer_add(out, hdr, sizeof(hdr));
	if (len)
		evbuffer_add(out, msg, len);
	s->stats.frames_out++;
	return 0;
}

int
mux_send_env_request(struct mux_session *s, uint32_t *ret_id)
{
	uint8_t buf[WIRE_HEADER_LEN + 4];
	uint32_t id;
	int ret;

	if (s->state != MUX_S_READY || s->destroying)
		return -ENOTCONN;
	if (!(s->peer.caps & WIRE_CAP_ENV))
		return -EOPNOTSUPP;
	ret = mux_request_new(s, MUX_REQ_ENV, &id);
	if (ret < 0)
		return ret;
	frame_encode_header(buf, WIRE_ENV_REQUEST, 0, 4);
	wire_put_u32(buf + WIRE_HEADER_LEN, id);
	mux_send_raw(s, buf, sizeof(buf));
	*ret_id = id;
	return 0;
}

int
mux_cancel_env_request(struct mux_session *s, uint32_t id)
{
	if ((uintptr_t)mux_map_get(&s->requests, id) != MUX_REQ_ENV)
		return -ENOENT;
	mux_map_del(&s->requests, id);
	mux_enter(s);
	mux_check_drained(s);
	mux_leave(s);
	return 0;
}

/* Wipes an ENV_REPLY once the carrier has written it (values are
 * secrets). */
static void
mux_env_cleanup(const void *data, size_t len, void *extra)
{
	OPENSSL_cleanse((void *)data, len);
	free((void *)data);
}

int
mux_send_env_reply(struct mux_session *s, uint32_t id, uint32_t error,
    const struct mux_kv *vars, size_t n)
{
	size_t size = WIRE_HEADER_LEN + 12, off;
	uint8_t *buf;
	int ret;

	if (s->state != MUX_S_READY || s->destroying)
		return -ENOTCONN;
	if (error != WIRE_OK)
		n = 0;
	if (n > FRAME_MAX_ENV_ENTRIES || (n > 0 && !vars))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		size_t nl, vl;

		if (!vars[i].name || !vars[i].value)
			return -EINVAL;
		nl = strlen(vars[i].name);
		vl = strlen(vars[i].value);
		if (nl < 1 || nl > FRAME_MAX_ENV_NAME ||
		    strchr(vars[i].name, '='))
			return -EINVAL;
		size += 2 + nl + 4 + vl;
		if (vl > FRAME_MAX_ENV_VALUE ||
		    size > WIRE_HEADER_LEN + WIRE_MAX_PAYLOAD) {
			/* The spec's answer to an environment that does not
			 * fit one frame. */
			mux_send_env_reply(s, id, WIRE_ERR_RESOURCE, NULL, 0);
			return -EMSGSIZE;
		}
	}
	buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	frame_encode_header(
	    buf, WIRE_ENV_REPLY, 0, (uint32_t)(size - WIRE_HEADER_LEN));
	wire_put_u32(buf + WIRE_HEADER_LEN, id);
	wire_put_u32(buf + WIRE_HEADER_LEN + 4, error);
	wire_put_u32(buf + WIRE_HEADER_LEN + 8, (uint32_t)n);
	off = WIRE_HEADER_LEN + 12;
	for (size_t i = 0; i < n; i++) {
		ret = frame_env_put(buf, size, &off, vars[i].name,
		    strlen(vars[i].name), vars[i].value, strlen(vars[i].value));
		if (ret < 0) {
			mux_env_cleanup(buf, size, NULL);
			return ret;
		}
	}
	if (evbuffer_add_reference(s->out, buf, size, mux_env_cleanup, NULL) <
	    0) {
		mux_env_cleanup(buf, size, NULL);
		return -ENOMEM;
	}
	s->stats.frames_out++;
	return 0;
}

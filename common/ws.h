/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ws: a small RFC 6455 WebSocket client on a libevent bufferevent, written
 * for the Kubernetes port-forward (v4.channel.k8s.io, see
 * ../shared/k8s/API-NOTES.md section 2.2). Debian 12's libcurl has no
 * WebSocket support and libwebsockets brings its own event loop, so the
 * protocol is done here: the HTTP/1.1 upgrade with the Sec-WebSocket-Key /
 * Accept check and subprotocol negotiation, masked client frames, message
 * reassembly from fragments, ping/pong, the close handshake, and hard
 * limits on everything the server sends (response head, error body,
 * message size). No extensions are offered (so none may be accepted).
 *
 * The module has two layers. The pure functions (frame header parse and
 * write, masking, the accept key, the response head parser, close payloads,
 * UTF-8 and chunked bodies) do no I/O and no allocation; they are unit
 * tested and fuzzed (tests/fuzz/fuzz_ws.c). struct ws_client runs a
 * connection over any bufferevent the caller made: plain TCP, or OpenSSL
 * with the caller's trust and client certificate.
 *
 * Callbacks: a client reports through struct ws_callbacks. closed is called
 * exactly once, from the event loop (never from inside a ws_client_*()
 * call), and is the last callback; the owner may free the client inside
 * any callback.
 */
#ifndef TELEPOD_COMMON_WS_H
#define TELEPOD_COMMON_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct bufferevent;
struct evbuffer;

/* Opcodes (RFC 6455 section 5.2). */
#define WS_OP_CONT   0x0
#define WS_OP_TEXT   0x1
#define WS_OP_BINARY 0x2
#define WS_OP_CLOSE  0x8
#define WS_OP_PING   0x9
#define WS_OP_PONG   0xa

/* Close codes (section 7.4.1) that this module sends or reports. */
#define WS_CLOSE_NORMAL         1000
#define WS_CLOSE_GOING_AWAY     1001
#define WS_CLOSE_PROTOCOL_ERROR 1002
#define WS_CLOSE_NO_STATUS      1005 /* reported only: no code sent */
#define WS_CLOSE_ABNORMAL       1006 /* reported only: no close frame */
#define WS_CLOSE_INVALID_DATA   1007
#define WS_CLOSE_TOO_BIG        1009
#define WS_CLOSE_INTERNAL       1011

/* Hard limits. */
#define WS_MAX_HEADER          14          /* a frame header */
#define WS_MAX_CONTROL         125         /* a control frame's payload */
#define WS_MAX_RESPONSE_HEAD   (16 * 1024) /* the server's upgrade answer */
#define WS_MAX_ERROR_BODY      (64 * 1024) /* body of a refused upgrade */
#define WS_DEFAULT_MAX_MESSAGE (4u << 20)  /* a reassembled message */
#define WS_MAX_MESSAGE_LIMIT   (64u << 20) /* the most max_message may be */
#define WS_MAX_PROTOCOLS       8           /* subprotocols offered */
#define WS_MAX_PROTOCOL_LEN    128
#define WS_MAX_EXTRA_HEADERS   32
#define WS_MAX_HEADER_LINE     8192 /* one extra request header */
#define WS_KEY_LEN             24   /* base64 of 16 random bytes */
#define WS_ACCEPT_LEN          28   /* base64 of a SHA-1 */
#define WS_CLOSE_REASON_MAX    123  /* 125 minus the code */
#define WS_DETAIL_MAX          512

/* ---------------------------------------------------------------------- */
/* pure functions */

struct ws_frame_header {
	bool fin;
	uint8_t opcode;
	bool masked;
	uint8_t mask[4];
	uint64_t len;      /* payload length */
	size_t header_len; /* bytes before the payload */
};

/*
 * Parses a frame header at buf[0..len). Returns the header length (2 to
 * 14), 0 when more bytes are needed, -EPROTO for a malformed header
 * (reserved bits, unknown opcode, a fragmented control frame or one over
 * 125 bytes, a 64-bit length with the top bit set, a length not in its
 * shortest form) or -EMSGSIZE for a payload over max_payload. Writes *ret
 * only on success.
 */
int ws_frame_parse(const uint8_t *buf, size_t len, uint64_t max_payload,
    struct ws_frame_header *ret);

/* Writes a frame header to out; mask NULL means unmasked (a server's
 * frame). Returns its length. */
size_t ws_frame_header_write(uint8_t out[WS_MAX_HEADER], bool fin,
    uint8_t opcode, uint64_t len, const uint8_t *mask);

/* XORs data with mask, for payload bytes starting at payload offset
 * offset (so a payload can be masked in pieces). */
void ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset);

/* A fresh Sec-WebSocket-Key (base64 of 16 random bytes) into out.
 * Returns 0 or -EIO (no randomness). */
int ws_key_new(char out[WS_KEY_LEN + 1]);

/* The Sec-WebSocket-Accept for key: base64(SHA-1(key + GUID)). Returns 0
 * or -EINVAL when key is not WS_KEY_LEN base64 characters. */
int ws_accept_compute(const char *key, char out[WS_ACCEPT_LEN + 1]);

/* What the server's answer to the upgrade said. */
struct ws_response {
	int status;              /* 101 on success */
	char reason[64];         /* reason phrase, cut to fit */
	bool upgrade_websocket;  /* Upgrade: websocket */
	bool connection_upgrade; /* Connection: ... upgrade ... */
	bool has_accept;
	char accept[WS_ACCEPT_LEN + 1];
	bool has_protocol;
	char protocol[WS_MAX_PROTOCOL_LEN + 1];
	bool has_extensions;
	long long content_length; /* -1 when absent */
	bool chunked;             /* Transfer-Encoding: chunked */
	bool connection_close;    /* Connection: close */
	char content_type[96];
};

/*
 * Parses an HTTP/1.x response head (status line and headers, up to the
 * empty line) at buf[0..len). Returns the head's length including the
 * empty line, 0 when it is not complete yet, -EMSGSIZE when it is longer
 * than WS_MAX_RESPONSE_HEAD, -EPROTO when malformed (bad status line,
 * a header without ':' or with a bad name, a NUL byte, a repeated
 * Sec-WebSocket-Accept or -Protocol, a bad Content-Length). Header values
 * too long for their field in *ret are -EPROTO too. Writes *ret only on
 * success.
 */
int ws_response_parse(const char *buf, size_t len, struct ws_response *ret);

/*
 * Checks a 101 answer against the request: Upgrade and Connection, the
 * accept key for key, no extensions, and a subprotocol that is one of
 * protocols[0..n) (required when n > 0; none may be chosen when n == 0).
 * Returns 0 or -EPROTO with a sentence in err.
 */
int ws_response_check(const struct ws_response *r, const char *key,
    const char *const *protocols, size_t n, char *err, size_t errlen);

/*
 * Parses a Close frame's payload: empty (*ret_code WS_CLOSE_NO_STATUS), or
 * a code and a UTF-8 reason. Returns 0, or -EPROTO for a 1-byte payload,
 * a code that may not be sent (below 1000, 1004-1006, 1015, 1016-2999, or
 * 5000 and above) or a reason that is not UTF-8. The reason is
 * payload + 2 (length len - 2) when len > 2.
 */
int ws_close_parse(const uint8_t *payload, size_t len, uint16_t *ret_code);

/* True when buf[0..len) is well-formed UTF-8 (no overlongs, surrogates or
 * code points over U+10FFFF). */
bool ws_utf8_valid(const uint8_t *buf, size_t len);

/*
 * Decodes an HTTP/1.1 chunked body held whole in in[0..inlen) into out
 * (at most cap bytes are kept; the rest is counted but dropped). Returns
 * 1 when the last chunk (and trailers) ended, 0 when more input is
 * needed, -EPROTO when malformed. *ret_len gets the bytes written to out.
 */
int ws_dechunk(
    const char *in, size_t inlen, char *out, size_t cap, size_t *ret_len);

/* ---------------------------------------------------------------------- */
/* the client */

struct ws_client;

/* How a client ended, for the closed callback. */
struct ws_close_info {
	/*
	 * 0: the close handshake completed; else a negative errno:
	 * -ECONNREFUSED / -EHOSTUNREACH / -ETIMEDOUT / -ECONNRESET (transport,
	 * or the server vanished without a close frame), -EPROTO (a protocol
	 * violation, a TLS failure, or the upgrade refused: see http_status),
	 * -EMSGSIZE (a message over the limit), -ECANCELED (ws_client_close()
	 * before the handshake finished).
	 */
	int err;
	bool opened;   /* the handshake had completed */
	uint16_t code; /* the server's close code, or 1005 / 1006 */
	char reason[WS_CLOSE_REASON_MAX + 1]; /* the server's, escaped */
	char detail[WS_DETAIL_MAX];           /* what went wrong, for logs */
	int http_status;       /* != 0: the upgrade was refused */
	const char *http_body; /* that answer's body, borrowed for the call */
	size_t http_body_len;
	const char *http_content_type; /* borrowed; "" when absent */
};

struct ws_callbacks {
	/* The upgrade succeeded (ws_client_protocol() tells the choice). */
	void (*open)(struct ws_client *ws, void *arg);
	/* A whole message (TEXT checked to be UTF-8, or BINARY). The
	 * callee may move or drain payload; what is left is dropped. */
	void (*message)(struct ws_client *ws, int opcode,
	    struct evbuffer *payload, void *arg);
	/* The transport's output fell to the low mark after having been
	 * above it: send more. May be NULL. */
	void (*writable)(struct ws_client *ws, void *arg);
	/* The end; see struct ws_close_info. */
	void (*closed)(
	    struct ws_client *ws, const struct ws_close_info *info, void *arg);
};

struct ws_client_config {
	const char *host; /* Host header value ("api.example:6443") */
	const char *path; /* request target with query, starting with '/' */
	/* Subprotocols offered in order of preference (at most
	 * WS_MAX_PROTOCOLS tokens); n_protocols 0 offers none. */
	const char *const *protocols;
	size_t n_protocols;
	/* Extra request header lines "Name: value" (Authorization,
	 * Impersonate-User...), at most WS_MAX_EXTRA_HEADERS. Host,
	 * Upgrade, Connection and Sec-WebSocket-* are refused here. */
	const char *const *headers;
	size_t n_headers;
	size_t max_message;       /* 0: WS_DEFAULT_MAX_MESSAGE */
	int handshake_timeout_ms; /* 0: 30 s; includes TCP/TLS connect */
	/* Ping this often (0: never); no frame from the server for three
	 * intervals ends the connection with -ETIMEDOUT. */
	int ping_interval_ms;
	size_t write_low; /* writable fires at or below it; 0: 64 KiB */
};

/*
 * Starts a client on bev (ownership taken, freed with the client; it may
 * still be connecting: the request is queued at once and written when
 * the transport is up). cfg is copied; cb and arg are borrowed and must
 * outlive the client. Returns 0 and *ret, or -EINVAL (a bad config:
 * missing host or path, a header line with CR/LF, a forbidden header, a
 * bad protocol token, too many of either), -EIO (no randomness) or
 * -ENOMEM. On failure bev is freed too.
 */
int ws_client_new(struct event_base *base, struct bufferevent *bev,
    const struct ws_client_config *cfg, const struct ws_callbacks *cb,
    void *arg, struct ws_client **ret);

/* Frees the client and its bufferevent without a close handshake and
 * without callbacks. Safe inside callbacks. Accepts NULL. */
void ws_client_free(struct ws_client *ws);

/*
 * Sends one message as one frame: opcode WS_OP_TEXT, WS_OP_BINARY or
 * WS_OP_PING / WS_OP_PONG (at most WS_MAX_CONTROL bytes). Returns 0,
 * -ENOTCONN (not open, or closing), -EINVAL, -EMSGSIZE (over
 * WS_MAX_MESSAGE_LIMIT) or -ENOMEM. The bytes are copied (masked).
 */
int ws_client_send(
    struct ws_client *ws, int opcode, const void *data, size_t len);

/* Same with the payload prefix[0..plen) followed by len bytes drained
 * from src (at least len must be there). */
int ws_client_send_evbuffer(struct ws_client *ws, int opcode,
    const void *prefix, size_t plen, struct evbuffer *src, size_t len);

/*
 * Starts the close handshake: sends Close(code, reason) and waits (at
 * most 5 s) for the server's Close; closed then reports err 0. Messages
 * that arrive meanwhile are still delivered. Before the handshake
 * finished it ends the client with -ECANCELED instead. Returns 0 or
 * -EALREADY when closing already.
 */
int ws_client_close(struct ws_client *ws, uint16_t code, const char *reason);

/* Stops (false) or resumes reading from the server: back-pressure for a
 * consumer whose own output is full. */
void ws_client_set_read(struct ws_client *ws, bool on);

/* Bytes queued towards the server, not yet taken by the transport. */
size_t ws_client_output_pending(const struct ws_client *ws);

/* The subprotocol the server chose ("" when none; before open too). */
const char *ws_client_protocol(const struct ws_client *ws);

/* True between open and the close handshake. */
bool ws_client_is_open(const struct ws_client *ws);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ws: RFC 6455 frame headers, masking and the accept key, for the fake API
 * server's port-forward endpoint (and its tests, which play the client).
 */
#include "tests/fakeapi/ws.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

int
ws_parse_header(const uint8_t *buf, size_t len, struct ws_frame *f)
{
	size_t need = 2;
	uint64_t plen;

	if (len < 2)
		return 0;
	memset(f, 0, sizeof(*f));
	if (buf[0] & 0x70)
		return -EPROTO; /* RSV1-3: no extension was negotiated */
	f->fin = (buf[0] & 0x80) != 0;
	f->opcode = buf[0] & 0x0f;
	f->masked = (buf[1] & 0x80) != 0;
	plen = buf[1] & 0x7f;
	switch (f->opcode) {
	case WS_OP_CONT:
	case WS_OP_TEXT:
	case WS_OP_BINARY:
		break;
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		if (!f->fin || plen > WS_MAX_CONTROL)
			return -EPROTO;
		break;
	default:
		return -EPROTO;
	}
	if (plen == 126)
		need += 2;
	else if (plen == 127)
		need += 8;
	if (f->masked)
		need += 4;
	if (len < need)
		return 0;
	if (plen == 126) {
		plen = ((uint64_t)buf[2] << 8) | buf[3];
		if (plen < 126)
			return -EPROTO;
	} else if (plen == 127) {
		plen = 0;
		for (int i = 0; i < 8; i++)
			plen = (plen << 8) | buf[2 + i];
		if (plen >> 63)
			return -EPROTO;
		if (plen <= 0xffff)
			return -EPROTO;
	}
	if (plen > WS_MAX_FRAME)
		return -EMSGSIZE;
	if (f->masked)
		memcpy(f->mask, buf + need - 4, 4);
	f->len = plen;
	f->header_len = need;
	return (int)need;
}

size_t
ws_write_header(uint8_t out[WS_MAX_HEADER], bool fin, int opcode, uint64_t len,
    const uint8_t *mask)
{
	size_t n = 2;

	out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (len < 126) {
		out[1] = (uint8_t)len;
	} else if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		n = 4;
	} else {
		out[1] = 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		n = 10;
	}
	if (mask != NULL) {
		out[1] |= 0x80;
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

void
ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset)
{
	for (size_t i = 0; i < len; i++)
		data[i] ^= mask[(offset + i) & 3];
}

int
ws_accept_key(const char *key, char out[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char raw[32], md[SHA_DIGEST_LENGTH];
	char buf[64 + sizeof(guid)];
	size_t kl = strlen(key);
	int n;

	/* 16 bytes in base64 are 24 characters ending with "==". */
	if (kl != 24 || key[22] != '=' || key[23] != '=')
		return -EINVAL;
	n = EVP_DecodeBlock(raw, (const unsigned char *)key, 24);
	if (n != 18)
		return -EINVAL;
	memcpy(buf, key, kl);
	memcpy(buf + kl, guid, sizeof(guid) - 1);
	SHA1((const unsigned char *)buf, kl + sizeof(guid) - 1, md);
	EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
	return 0;
}

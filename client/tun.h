/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tun: telepodd's TUN device (tel0 by default), the entry of TCP from
 * unmodified programs (docs/vpn-tcp.md). tun_open() creates the device,
 * gives it its addresses and MTU and brings it up; the caller reads and
 * writes IP packets on tun_fd() (non-blocking, close-on-exec) and closing
 * it removes the device with every route through it.
 *
 * Framing of reads and writes. With vnet_hdr on (the default) every packet
 * read or written is preceded by a struct virtio_net_hdr of
 * tun_vnet_hdr_len() == TUN_VNET_HDR_LEN (10) bytes, its 16-bit fields
 * little-endian (TUNSETVNETLE; use le16toh/htole16). The device has
 * TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6: a read may return one TCP segment of
 * up to 64 KiB with gso_type VIRTIO_NET_HDR_GSO_TCPV4/6 and gso_size the
 * MSS, and a checksum left partial (VIRTIO_NET_HDR_F_NEEDS_CSUM with
 * csum_start/csum_offset); a write may hand the kernel the same. With
 * vnet_hdr off the packets are bare IP (IFF_NO_PI: no packet-info prefix
 * either way). Read with readv() and the header in its own iovec so the IP
 * header lands aligned.
 *
 * Why 10 bytes and not 12 (struct virtio_net_hdr_mrg_rxbuf): the two extra
 * bytes are num_buffers, which only means something to a virtio driver
 * that spreads one packet over several receive buffers. A TUN read always
 * returns one packet in the caller's buffer, so the field would carry
 * nothing; the kernel would skip those two bytes on reads without writing
 * them, leaving stale memory in every header.
 *
 * The device is not persistent: if telepodd dies, the kernel deletes it
 * with its routes once the last queue fd is closed. netstate (netstate.h)
 * covers the rest (an fd leaked to a child). Blocking netlink calls: use at
 * start-up and shutdown only, not per packet.
 */
#ifndef TELEPOD_CLIENT_TUN_H
#define TELEPOD_CLIENT_TUN_H

#include <stdbool.h>
#include <stddef.h>

#include "client/cidr.h"

#define TUN_DEFAULT_NAME "tel0"
/* The /16 also holds the NAT's fake sources (docs/vpn-tcp.md). */
#define TUN_DEFAULT_ADDR4 "198.18.0.1/16"
/* A unique local prefix for the day IPv6 is switched on. */
#define TUN_DEFAULT_ADDR6 "fd7e:1e0d::1/64"
/* sizeof(struct virtio_net_hdr); see above. */
#define TUN_VNET_HDR_LEN 10
/* Largest MTU of a TUN device; with TSO a read carries up to 64 KiB. */
#define TUN_MTU_OFFLOAD 65535
#define TUN_MTU_PLAIN   1500
/* Longest interface name plus NUL (IFNAMSIZ). */
#define TUN_NAME_MAX 16
/* Longest error sentence tun_* write; size err buffers with it. */
#define TUN_ERROR_MAX 256

struct tun_dev;

struct tun_config {
	/* Interface name; NULL means TUN_DEFAULT_NAME. Borrowed. */
	const char *name;
	/* IFF_VNET_HDR with checksum and TSO offloads (default on). */
	bool vnet_hdr;
	/* IFF_MULTI_QUEUE, so tun_open_queue() can add queues. */
	bool multi_queue;
	/* 0 means TUN_MTU_OFFLOAD with vnet_hdr, TUN_MTU_PLAIN without. */
	unsigned mtu;
	/* The device's IPv4 address with its prefix (host bits kept). */
	struct cidr addr4;
	/* An IPv6 address (added without duplicate address detection). */
	bool has_addr6;
	struct cidr addr6;
};

/* Fills cfg with the defaults: tel0, vnet_hdr on, one queue, default MTU,
 * TUN_DEFAULT_ADDR4, no IPv6. */
void tun_config_init(struct tun_config *cfg);

/*
 * Creates the TUN device of cfg, adds its addresses, sets its MTU and
 * brings it up (through libnl-route; nothing is run). Fails rather than
 * attaching to an existing link of the same name. Caller frees *ret with
 * tun_close(). Returns 0, or a negative errno with a sentence in err such
 * as "a link named tel0 already exists; another telepodd running? use
 * --tun-name" (-EEXIST), or "cannot create the TUN device tel0: Operation
 * not permitted; telepodd must run as root" (-EPERM).
 */
int tun_open(const struct tun_config *cfg, struct tun_dev **ret, char *err,
    size_t errlen);

/* The first queue's fd (owned by dev; do not close it). */
int tun_fd(const struct tun_dev *dev);
const char *tun_name(const struct tun_dev *dev);
int tun_ifindex(const struct tun_dev *dev);
unsigned tun_mtu(const struct tun_dev *dev);
/* TUN_VNET_HDR_LEN with vnet_hdr on, 0 without: the bytes before each
 * packet on every read and write. */
size_t tun_vnet_hdr_len(const struct tun_dev *dev);
/* The IPv4 address (with prefix) and the IPv6 one (NULL if none). */
const struct cidr *tun_addr4(const struct tun_dev *dev);
const struct cidr *tun_addr6(const struct tun_dev *dev);

/*
 * Opens one more queue of a multi-queue device, with the same framing.
 * The caller owns *ret_fd and closes it before tun_close().
 * Returns 0, -EINVAL if the device is single-queue, or a negative errno
 * with a sentence in err.
 */
int tun_open_queue(struct tun_dev *dev, int *ret_fd, char *err, size_t errlen);

/* Closes the queue; the kernel deletes the link and its routes (once no
 * other queue is open). Accepts NULL. */
void tun_close(struct tun_dev *dev);

/*
 * Deletes a TUN link left behind by an earlier telepodd (its fd leaked to
 * a child): the link called name, only if it is a TUN device and, when
 * ifindex > 0, only if it still has that index (so a device someone made
 * since under the same name stays). Returns 1 when deleted, 0 when there
 * was nothing to delete, -EEXIST when the name now belongs to another
 * link (left alone), or a negative errno with a sentence in err.
 */
int tun_delete_stale(const char *name, int ifindex, char *err, size_t errlen);

#endif

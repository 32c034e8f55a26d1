/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tun-linux: the TUN device on Linux. /dev/net/tun with IFF_TUN | IFF_NO_PI
 * (bare IP packets), IFF_VNET_HDR plus TUNSETOFFLOAD(CSUM, TSO4, TSO6) so
 * that one read or write carries up to 64 KiB (PERF-NOTES.md: 19.8 against
 * 1.7 Gbit/s), and IFF_TUN_EXCL so an existing link of the same name is
 * never taken over. Addresses, MTU and the up flag go through libnl-route;
 * libnl's error codes are turned into errno values and sentences here.
 *
 * IPv6 address generation is switched off on the device (addr_gen_mode
 * none) before it comes up: no link-local address, so no router
 * solicitations or MLD reports for the packet path to read, and the ULA is
 * added with IFA_F_NODAD so a listener can bind it at once.
 */
#include "client/tun.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <net/if.h>
#include <linux/if_tun.h>
#include <linux/if_addr.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/inet6.h>

#include "client/nlerr-linux.h"
#include "common/errbuf.h"
#include "common/log.h"

#ifndef IN6_ADDR_GEN_MODE_NONE
#define IN6_ADDR_GEN_MODE_NONE 1
#endif

struct tun_dev {
	int fd;
	int ifindex;
	unsigned mtu;
	int iff; /* TUNSETIFF flags, for more queues */
	bool vnet_hdr;
	bool has_addr6;
	struct cidr addr4;
	struct cidr addr6;
	char name[TUN_NAME_MAX];
};

void
tun_config_init(struct tun_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->name = NULL;
	cfg->vnet_hdr = true;
	cfg->multi_queue = false;
	cfg->mtu = 0;
	(void)cidr_parse_host(TUN_DEFAULT_ADDR4, &cfg->addr4);
	cfg->has_addr6 = false;
}

/* The kernel's rule (dev_valid_name) plus printable ASCII, so that the
 * name can be shown and passed on a command line safely. */
static bool
tun_valid_name(const char *name)
{
	size_t n = strnlen(name, TUN_NAME_MAX);

	if (n == 0 || n >= TUN_NAME_MAX || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= ' ' || c >= 0x7f || c == '/' || c == ':')
			return false;
	}
	return true;
}

static struct nl_sock *
tun_nl_connect(int *ret_err)
{
	struct nl_sock *sk = nl_socket_alloc();
	int r;

	if (sk == NULL) {
		*ret_err = -NLE_NOMEM;
		return NULL;
	}
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0) {
		nl_socket_free(sk);
		*ret_err = r;
		return NULL;
	}
	return sk;
}

static int
tun_add_addr(struct nl_sock *sk, const struct tun_dev *dev,
    const struct cidr *c, char *err, size_t errlen)
{
	struct rtnl_addr *a = NULL;
	struct nl_addr *local = NULL;
	char text[CIDR_STR_MAX];
	size_t alen = c->family == AF_INET ? 4 : 16;
	int r;

	a = rtnl_addr_alloc();
	local = nl_addr_build(c->family, c->addr, alen);
	if (a == NULL || local == NULL) {
		r = -NLE_NOMEM;
		goto fail;
	}
	nl_addr_set_prefixlen(local, c->prefix);
	rtnl_addr_set_ifindex(a, dev->ifindex);
	rtnl_addr_set_family(a, c->family);
	r = rtnl_addr_set_local(a, local);
	if (r < 0)
		goto fail;
	rtnl_addr_set_prefixlen(a, c->prefix);
	if (c->family == AF_INET6)
		rtnl_addr_set_flags(a, IFA_F_NODAD);
	r = rtnl_addr_add(sk, a, 0);
	if (r < 0)
		goto fail;
	log_debug(LOG_CAT_TUN, "tun %s: address %s", dev->name,
	    cidr_format(c, text, sizeof(text)));
	r = 0;
	goto out;
fail:
	errbuf_set(err, errlen, "cannot add the address %s to %s: %s",
	    cidr_format(c, text, sizeof(text)), dev->name, nl_geterror(r));
	r = nlerr_to_errno(r);
out:
	nl_addr_put(local);
	rtnl_addr_put(a);
	return r;
}

/* Addresses, then MTU and up, all over one netlink socket. */
static int
tun_configure(struct tun_dev *dev, char *err, size_t errlen)
{
	struct rtnl_link *orig = NULL, *change = NULL;
	struct nl_sock *sk;
	int r = 0;

	sk = tun_nl_connect(&r);
	if (sk == NULL) {
		errbuf_set(err, errlen, "cannot open a netlink socket: %s",
		    nl_geterror(r));
		return nlerr_to_errno(r);
	}
	r = rtnl_link_get_kernel(sk, dev->ifindex, NULL, &orig);
	if (r < 0) {
		errbuf_set(err, errlen, "cannot read the link %s back: %s",
		    dev->name, nl_geterror(r));
		r = nlerr_to_errno(r);
		goto out;
	}
	/* Before the link is up, or the kernel makes a link-local address
	 * and starts soliciting routers. A kernel without IPv6 refuses:
	 * nothing to switch off then. */
	change = rtnl_link_alloc();
	if (change == NULL) {
		r = -ENOMEM;
		errbuf_set(err, errlen, "out of memory");
		goto out;
	}
	if (rtnl_link_inet6_set_addr_gen_mode(change, IN6_ADDR_GEN_MODE_NONE) ==
	    0) {
		r = rtnl_link_change(sk, orig, change, 0);
		if (r < 0)
			log_debug(LOG_CAT_TUN,
			    "tun %s: IPv6 address generation left on: %s",
			    dev->name, nl_geterror(r));
	}
	rtnl_link_put(change);
	change = NULL;

	r = tun_add_addr(sk, dev, &dev->addr4, err, errlen);
	if (r < 0)
		goto out;
	if (dev->has_addr6) {
		r = tun_add_addr(sk, dev, &dev->addr6, err, errlen);
		if (r < 0)
			goto out;
	}

	change = rtnl_link_alloc();
	if (change == NULL) {
		r = -ENOMEM;
		errbuf_set(err, errlen, "out of memory");
		goto out;
	}
	rtnl_link_set_mtu(change, dev->mtu);
	rtnl_link_set_flags(change, IFF_UP);
	r = rtnl_link_change(sk, orig, change, 0);
	if (r < 0) {
		errbuf_set(err, errlen,
		    "cannot set the MTU of %s to %u and bring it up: %s",
		    dev->name, dev->mtu, nl_geterror(r));
		r = nlerr_to_errno(r);
		goto out;
	}
	r = 0;
out:
	rtnl_link_put(change);
	rtnl_link_put(orig);
	nl_socket_free(sk);
	return r;
}

/* Opens /dev/net/tun and attaches it to dev->name with dev->iff; sets the
 * vnet header and offloads on that queue. Returns the fd or -errno. */
static int
tun_open_fd(const struct tun_dev *dev, char *err, size_t errlen)
{
	struct ifreq ifr;
	int fd, r, v;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT || r == -ENODEV)
			errbuf_set(err, errlen,
			    "cannot open /dev/net/tun: %s; load the tun kernel module (modprobe tun)",
			    strerror(-r));
		else if (r == -EACCES || r == -EPERM)
			errbuf_set(err, errlen,
			    "cannot open /dev/net/tun: %s; telepodd must run as root",
			    strerror(-r));
		else
			errbuf_set(err, errlen, "cannot open /dev/net/tun: %s",
			    strerror(-r));
		return r;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, dev->name, strlen(dev->name));
	ifr.ifr_flags = (short)dev->iff;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		r = -errno;
		if (r == -EBUSY || r == -EEXIST)
			errbuf_set(err, errlen,
			    "a link named %s already exists; another telepodd running? use --tun-name",
			    dev->name);
		else if (r == -EPERM || r == -EACCES)
			errbuf_set(err, errlen,
			    "cannot create the TUN device %s: %s; telepodd must run as root",
			    dev->name, strerror(-r));
		else
			errbuf_set(err, errlen,
			    "cannot create the TUN device %s: %s", dev->name,
			    strerror(-r));
		if (r == -EBUSY)
			r = -EEXIST;
		goto fail;
	}
	if (dev->vnet_hdr) {
		v = TUN_VNET_HDR_LEN;
		if (ioctl(fd, TUNSETVNETHDRSZ, &v) < 0) {
			r = -errno;
			errbuf_set(err, errlen,
			    "cannot set the vnet header size of %s: %s",
			    dev->name, strerror(-r));
			goto fail;
		}
		/* Little-endian fields on every host; a kernel without
		 * the ioctl is little-endian-only anyway on LE hosts. */
		v = 1;
		if (ioctl(fd, TUNSETVNETLE, &v) < 0) {
			r = -errno;
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
			errbuf_set(err, errlen,
			    "cannot make %s's vnet header little-endian: %s",
			    dev->name, strerror(-r));
			goto fail;
#else
			log_debug(LOG_CAT_TUN, "tun %s: TUNSETVNETLE: %s",
			    dev->name, strerror(-r));
#endif
		}
		if (ioctl(fd, TUNSETOFFLOAD,
		        (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)) <
		    0) {
			r = -errno;
			errbuf_set(err, errlen,
			    "cannot switch on checksum and TSO offloads on %s: %s; start with TUN offloads off",
			    dev->name, strerror(-r));
			goto fail;
		}
	}
	return fd;
fail:
	close(fd);
	return r;
}

int
tun_open(const struct tun_config *cfg, struct tun_dev **ret, char *err,
    size_t errlen)
{
	struct tun_dev *dev;
	const char *name = cfg->name ? cfg->name : TUN_DEFAULT_NAME;
	char text[CIDR_STR_MAX];
	int r;

	if (!tun_valid_name(name)) {
		errbuf_set(err, errlen,
		    "\"%.32s\" is not a usable interface name (1 to %d characters, no spaces, '/' or ':')",
		    name, TUN_NAME_MAX - 1);
		return -EINVAL;
	}
	if (cfg->addr4.family != AF_INET ||
	    (cfg->has_addr6 && cfg->addr6.family != AF_INET6)) {
		errbuf_set(err, errlen,
		    "the TUN device needs an IPv4 address (and an IPv6 one for IPv6)");
		return -EINVAL;
	}
	/* A /32 would leave no room for the NAT's fake sources, which the
	 * prefix route must bring back into the device. */
	if (cfg->addr4.prefix > 30 ||
	    (cfg->has_addr6 && cfg->addr6.prefix > 126)) {
		errbuf_set(err, errlen,
		    "the TUN address %s leaves no room for the addresses telepodd maps connections to; use a prefix such as /16",
		    cidr_format(
		        cfg->addr4.prefix > 30 ? &cfg->addr4 : &cfg->addr6,
		        text, sizeof(text)));
		return -EINVAL;
	}
	if (cfg->mtu != 0 && (cfg->mtu < 1280 || cfg->mtu > TUN_MTU_OFFLOAD)) {
		errbuf_set(err, errlen, "MTU %u is out of range (1280 to %d)",
		    cfg->mtu, TUN_MTU_OFFLOAD);
		return -EINVAL;
	}
	dev = calloc(1, sizeof(*dev));
	if (dev == NULL) {
		errbuf_set(err, errlen, "out of memory");
		return -ENOMEM;
	}
	dev->fd = -1;
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	dev->vnet_hdr = cfg->vnet_hdr;
	dev->mtu = cfg->mtu ? cfg->mtu
	                    : (cfg->vnet_hdr ? TUN_MTU_OFFLOAD : TUN_MTU_PLAIN);
	dev->addr4 = cfg->addr4;
	dev->has_addr6 = cfg->has_addr6;
	if (cfg->has_addr6)
		dev->addr6 = cfg->addr6;
	dev->iff = IFF_TUN | IFF_NO_PI | IFF_TUN_EXCL;
	if (cfg->vnet_hdr)
		dev->iff |= IFF_VNET_HDR;
	if (cfg->multi_queue)
		dev->iff |= IFF_MULTI_QUEUE;

	/* Clearer than TUNSETIFF's EBUSY, which also covers other cases;
	 * IFF_TUN_EXCL still closes the race. */
	if (if_nametoindex(dev->name) != 0) {
		errbuf_set(err, errlen,
		    "a link named %s already exists; another telepodd running? use --tun-name",
		    dev->name);
		r = -EEXIST;
		goto fail;
	}
	r = tun_open_fd(dev, err, errlen);
	if (r < 0)
		goto fail;
	dev->fd = r;
	dev->ifindex = (int)if_nametoindex(dev->name);
	if (dev->ifindex <= 0) {
		r = -errno;
		errbuf_set(err, errlen,
		    "the new TUN device %s has no index: %s", dev->name,
		    strerror(-r));
		goto fail;
	}
	r = tun_configure(dev, err, errlen);
	if (r < 0)
		goto fail;
	log_debug(LOG_CAT_TUN,
	    "tun %s: ifindex %d, mtu %u, vnet header %zu bytes%s", dev->name,
	    dev->ifindex, dev->mtu, tun_vnet_hdr_len(dev),
	    cfg->multi_queue ? ", multi-queue" : "");
	*ret = dev;
	return 0;
fail:
	tun_close(dev); /* the link goes with the fd */
	return r;
}

int
tun_fd(const struct tun_dev *dev)
{
	return dev->fd;
}

const char *
tun_name(const struct tun_dev *dev)
{
	return dev->name;
}

int
tun_ifindex(const struct tun_dev *dev)
{
	return dev->ifindex;
}

unsigned
tun_mtu(const struct tun_dev *dev)
{
	return dev->mtu;
}

size_t
tun_vnet_hdr_len(const struct tun_dev *dev)
{
	return dev->vnet_hdr ? TUN_VNET_HDR_LEN : 0;
}

const struct cidr *
tun_addr4(const struct tun_dev *dev)
{
	return &dev->addr4;
}

const struct cidr *
tun_addr6(const struct tun_dev *dev)
{
	return dev->has_addr6 ? &dev->addr6 : NULL;
}

int
tun_open_queue(struct tun_dev *dev, int *ret_fd, char *err, size_t errlen)
{
	struct tun_dev q;
	int fd;

	if (!(dev->iff & IFF_MULTI_QUEUE)) {
		errbuf_set(err, errlen, "%s was opened with a single queue",
		    dev->name);
		return -EINVAL;
	}
	/* Attaching to our own device: without IFF_TUN_EXCL. */
	q = *dev;
	q.iff &= ~IFF_TUN_EXCL;
	fd = tun_open_fd(&q, err, errlen);
	if (fd < 0)
		return fd;
	*ret_fd = fd;
	return 0;
}

void
tun_close(struct tun_dev *dev)
{
	if (dev == NULL)
		return;
	if (dev->fd >= 0) {
		log_debug(LOG_CAT_TUN, "tun %s: closed", dev->name);
		close(dev->fd);
	}
	free(dev);
}

int
tun_delete_stale(const char *name, int ifindex, char *err, size_t errlen)
{
	struct rtnl_link *link = NULL;
	struct nl_sock *sk;
	const char *kind;
	int r = 0;

	if (!tun_valid_name(name)) {
		errbuf_set(
		    err, errlen, "\"%.32s\" is not an interface name", name);
		return -EINVAL;
	}
	sk = tun_nl_connect(&r);
	if (sk == NULL) {
		errbuf_set(err, errlen, "cannot open a netlink socket: %s",
		    nl_geterror(r));
		return nlerr_to_errno(r);
	}
	r = rtnl_link_get_kernel(sk, 0, name, &link);
	if (r < 0) {
		r = nlerr_to_errno(r);
		if (r == -ENODEV || r == -ENOENT) {
			r = 0; /* gone with its last fd: the usual case */
			goto out;
		}
		errbuf_set(err, errlen, "cannot look up the link %s: %s", name,
		    strerror(-r));
		goto out;
	}
	kind = rtnl_link_get_type(link);
	if (kind == NULL || strcmp(kind, "tun") != 0 ||
	    (ifindex > 0 && rtnl_link_get_ifindex(link) != ifindex)) {
		errbuf_set(err, errlen,
		    "the link %s (index %d, %s) is not the TUN device telepod left (index %d); leaving it",
		    name, rtnl_link_get_ifindex(link), kind ? kind : "no kind",
		    ifindex);
		r = -EEXIST;
		goto out;
	}
	r = rtnl_link_delete(sk, link);
	if (r < 0) {
		errbuf_set(err, errlen, "cannot delete the link %s: %s", name,
		    nl_geterror(r));
		r = nlerr_to_errno(r);
		if (r == -ENODEV)
			r = 0;
		goto out;
	}
	log_debug(LOG_CAT_TUN, "tun %s: deleted the stale device", name);
	r = 1;
out:
	rtnl_link_put(link);
	nl_socket_free(sk);
	return r;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nlerr-linux: libnl's error codes (NLE_*) as errno values, for the
 * modules that talk netlink through libnl (tun-linux, route-linux). The
 * translation happens once, at that boundary; callers above see errno.
 */
#ifndef TELEPOD_CLIENT_NLERR_LINUX_H
#define TELEPOD_CLIENT_NLERR_LINUX_H

/*
 * Maps a libnl error (NLE_*, either sign, as libnl's calls return it) to a
 * negative errno: the codes with an errno counterpart map to it, the
 * others to -EIO.
 */
int nlerr_to_errno(int nlerr);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nlerr-linux: one table from libnl's NLE_* codes back to errno values.
 * libnl folds the kernel's errno into its own codes (nl_syserr2nlerr);
 * this undoes that for the codes telepodd acts on (EEXIST, ENOENT,
 * ENODEV, EPERM, ...) and calls everything else an I/O error.
 */
#include "client/nlerr-linux.h"

#include <errno.h>

#include <netlink/errno.h>

int
nlerr_to_errno(int nlerr)
{
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case NLE_EXIST:
		return -EEXIST;
	case NLE_PERM:
		return -EPERM;
	case NLE_NOACCESS:
		return -EACCES;
	case NLE_OBJ_NOTFOUND:
		return -ENOENT;
	case NLE_NODEV:
		return -ENODEV;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_BUSY:
		return -EBUSY;
	case NLE_INVAL:
	case NLE_MSGTYPE_NOSUPPORT:
		return -EINVAL;
	case NLE_RANGE:
		return -ERANGE;
	case NLE_AF_NOSUPPORT:
		return -EAFNOSUPPORT;
	case NLE_OPNOTSUPP:
		return -EOPNOTSUPP;
	case NLE_NOADDR:
		return -EADDRNOTAVAIL;
	case NLE_AGAIN:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

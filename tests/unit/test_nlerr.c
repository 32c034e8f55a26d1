/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of client/nlerr-linux: libnl's NLE_* codes as errno values. */
#include <errno.h>

#include <netlink/errno.h>

#include "client/nlerr-linux.h"
#include "tests/unit/cunit_main.h"

static void
test_map(void)
{
	static const struct {
		int nle, err;
	} map[] = {
	    {NLE_EXIST, EEXIST},
	    {NLE_PERM, EPERM},
	    {NLE_NOACCESS, EACCES},
	    {NLE_OBJ_NOTFOUND, ENOENT},
	    {NLE_NODEV, ENODEV},
	    {NLE_NOMEM, ENOMEM},
	    {NLE_BUSY, EBUSY},
	    {NLE_INVAL, EINVAL},
	    {NLE_MSGTYPE_NOSUPPORT, EINVAL},
	    {NLE_RANGE, ERANGE},
	    {NLE_AF_NOSUPPORT, EAFNOSUPPORT},
	    {NLE_OPNOTSUPP, EOPNOTSUPP},
	    {NLE_NOADDR, EADDRNOTAVAIL},
	    {NLE_AGAIN, EAGAIN},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(*map); i++) {
		/* libnl returns them negative; either sign is taken. */
		CU_ASSERT_EQUAL(nlerr_to_errno(-map[i].nle), -map[i].err);
		CU_ASSERT_EQUAL(nlerr_to_errno(map[i].nle), -map[i].err);
	}
}

static void
test_others_are_eio(void)
{
	CU_ASSERT_EQUAL(nlerr_to_errno(-NLE_FAILURE), -EIO);
	CU_ASSERT_EQUAL(nlerr_to_errno(-NLE_MSG_TRUNC), -EIO);
	CU_ASSERT_EQUAL(nlerr_to_errno(-NLE_DUMP_INTR), -EIO);
	CU_ASSERT_EQUAL(nlerr_to_errno(-(NLE_MAX + 1)), -EIO);
}

static const struct cunit_test tests[] = {
    {"map", test_map},
    {"others_are_eio", test_others_are_eio},
};

CUNIT_MAIN("nlerr", tests)

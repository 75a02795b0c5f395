/* For unit tests (Check): one counter of an RPC server's stats. */
#ifndef LEGO_TEST_SRV_STAT_H
#define LEGO_TEST_SRV_STAT_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fabric/rpc.h"

static unsigned long long srv_stat(struct rpc_server *srv, const char *key)
{
	static char buf[64 * 1024];
	buf[0] = '\n';
	rpc_server_stats(srv, buf + 1, sizeof buf - 1);
	char k[64];
	snprintf(k, sizeof k, "\n%s:", key);
	const char *at = strstr(buf, k);
	ck_assert_ptr_nonnull(at);
	return strtoull(at + strlen(k), NULL, 10);
}

#endif

/*
 * For the test programs that speak the wire protocol only (fileraw,
 * deadpeer): connect to one daemon as a tool, over fabric `fab`, with the
 * cluster key from LEGO_CLUSTER_KEY.  0, or 1 after a message on stderr.
 */
#ifndef LEGO_TEST_RAWPEER_H
#define LEGO_TEST_RAWPEER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fabric/link.h"

#define RAWPEER_TIMEOUT_NS 5000000000ull

static int rawpeer_connect(const char *hostport, enum lf_fabric_choice fab,
			   struct rpc_links *links, struct rpc_peer *peer)
{
	const char *key = getenv("LEGO_CLUSTER_KEY");
	struct rpc_client *cl;
	if (rpc_client_new(key ? key : "", LEGO_ROLE_TOOL, &cl) < 0)
		return 1;
	*links = (struct rpc_links){.cl = cl, .rx_bufs = 4, .rx_size = LEGO_MSG_MAX, .fab = fab};
	int r = rpc_links_peer_hostport(links, hostport, peer, hostport, NULL);
	if (r == 0)
		r = rpc_peer_connect(peer, RAWPEER_TIMEOUT_NS);
	if (r) {
		fprintf(stderr, "cannot connect to %s: %s\n", hostport, strerror(-r));
		return 1;
	}
	return 0;
}

#endif

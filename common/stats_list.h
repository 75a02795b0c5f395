/*
 * Expanders for the daemons' stats lists (RPC_SERVER_STATS_LIST in
 * fabric/rpc.h, MEMNODE_STATS_LIST, MONITOR_STATS_LIST,
 * STORENODE_STATS_LIST).  A list has one line per key of a stats reply, in
 * the order the reply prints them:
 *   X(id, "key", "meaning")    a number: field id of the daemon's values
 *   S(id, "key", "meaning")    a string: the same
 *   F(id, "key.WHAT", "meaning")  a family printed by a loop (id names it)
 * A family with fixed members has a list of its own whose keys are formats
 * taking the member's number ("node.%llu.up").
 *
 * Keys and their order are an interface: legoctl, the tests and --metrics
 * (common/metrics_text.c) read them.  scripts/gen-docs.sh turns the lists
 * into docs/counters.md, so each line is written on one source line and a
 * meaning holds no double quote or '|'.
 */
#ifndef LEGO_STATS_LIST_H
#define LEGO_STATS_LIST_H

#include "util.h"

/* The values struct: one member per X or S line. */
#define LG_STAT_FIELD_U(id, key, doc) uint64_t id;
#define LG_STAT_FIELD_S(id, key, doc) const char *id;
#define LG_STAT_NONE(id, key, doc)

/* Append "key:value\n" for member id of the values struct v to buf, which
 * holds n of cap bytes (lg_bprintf). */
#define LG_STAT_PUT_U(id, key, doc) \
	n = lg_bprintf(buf, cap, n, key ":%llu\n", (unsigned long long)v.id);
#define LG_STAT_PUT_S(id, key, doc) n = lg_bprintf(buf, cap, n, key ":%s\n", v.id);

/* The same for a family member, whose key takes its number idx. */
#define LG_STAT_PUT_IU(id, key, doc) \
	n = lg_bprintf(buf, cap, n, key ":%llu\n", (unsigned long long)idx, \
		       (unsigned long long)v.id);
#define LG_STAT_PUT_IS(id, key, doc) \
	n = lg_bprintf(buf, cap, n, key ":%s\n", (unsigned long long)idx, v.id);

#endif

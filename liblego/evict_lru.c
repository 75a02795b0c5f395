/*
 * LRU eviction: the way used least recently goes first.  "Used" is every
 * access the ExCache observes: the fill, the first write to a clean line,
 * and a miss served again from the victim buffer.  Reads that hit are
 * invisible to user space (no hardware accessed bit to sample), so between
 * those events LRU orders lines as FIFO does.
 */
#include "excache.h"

static void lru_stamp(struct xc_way *w, uint64_t tick) { w->stamp = tick; }

const struct xc_policy xc_policy_lru = {"lru", lru_stamp, lru_stamp, xc_oldest_way};

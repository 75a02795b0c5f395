/*
 * Lego wire format: every message between a Lego process, the monitor and
 * the memnodes.
 *
 * A message is a fixed 48-byte header followed by an opcode-specific body.
 * All fields are little-endian, fixed width, with explicit padding; every
 * struct size is checked below.  A receiver checks magic, version and the
 * declared length against the received length before it reads any other
 * field, then checks the body against the opcode's minimum size (see the
 * handler tables in memnode/handlers.c and monitor/handlers.c).
 *
 * Opcodes are named by direction as in LegoOS: X2X_ (any node to any node),
 * P2MON_ (process to monitor), M2MON_ (memnode to monitor), P2M_ (process to
 * memnode).
 *
 * Connection: HELLO carries the client's fabric address and a random nonce;
 * the reply carries the server's nonce and proof HMAC(key, "S"|cn|sn).  The
 * client checks it and answers AUTH with HMAC(key, "C"|sn|cn).  Both sides
 * then derive the session secret HMAC(key, "K"|cn|sn), which every later
 * request carries in its header; the key itself never crosses the wire.
 *
 * Integrity: every message carries in hdr.crc the CRC32C (Castagnoli,
 * as iSCSI) of the whole message computed with that field 0; a receiver
 * drops a message whose CRC differs (counted as rejects.crc), as if lost.
 *
 * Request ids and repeats: a client numbers a request (generation << 16 |
 * slot), slot < LEGO_REQ_SLOTS, generation 1 .. 2^24 - 1; each use of a
 * slot takes the next generation (after 2^24 - 1 comes 1), and a slot is
 * used again only once its previous request was answered or given up.  A
 * request unanswered for a while is sent again with the same id.  So a
 * server keeps, per connection and slot, the newest generation it has
 * seen and that request's reply: a repeat of it is answered with the kept
 * reply (requests that change nothing may instead be served again), an
 * older generation is dropped, and no request is ever applied twice.
 */
#ifndef LEGO_PROTO_H
#define LEGO_PROTO_H

#include <stdint.h>
#include <time.h>

#define LEGO_PROTO_MAGIC   0x4f47454cu /* "LEGO" */
#define LEGO_PROTO_VERSION 10 /* 2: memnode heartbeats carry traffic; 3: replicas;
				   4: moving granules (drain, re-replication);
				   5: CRC32C in every header, requests repeated;
				   6: compact replies (LEGO_F_COMPACT);
				   7: where replies name the memnode's pid,
				      heartbeats the node's;
				   8: where replies with keys (LEGO_LINES_KEYS);
				   9: file SETATTR, STATFS, appends (LEGO_F_APPEND),
				      extending truncates, STAT of a descriptor by
				      inode (an older memnode would write an append
				      at offset 0);
				   10: symbolic and hard links (SYMLINK,
				       READLINK, LINK; OPEN replies name the
				       file) */

/* Largest line is 2 MiB; a message may carry one such line or a batch. */
#define LEGO_MSG_PAYLOAD_MAX (2u << 20)
#define LEGO_MSG_MAX         (LEGO_MSG_PAYLOAD_MAX + 64u * 1024)

#define LEGO_ADDR_MAX  96 /* raw fabric address (sockaddr or shm name) */
#define LEGO_HOST_MAX  64
#define LEGO_NONCE_LEN 32
#define LEGO_MAC_LEN   32
#define LEGO_CAP_LEN   16
#define LEGO_BATCH_MAX 256 /* lines in one READ/WRITE request */
#define LEGO_REQ_SLOTS 4096 /* request id slots of one client (see above) */

enum lego_opcode {
	X2X_HELLO = 1,
	X2X_AUTH = 2,
	X2X_BYE = 3,
	X2X_STATS = 4,
	X2X_PING = 5,

	P2MON_REGISTER = 16,
	P2MON_HEARTBEAT = 17,
	P2MON_EXIT = 18,
	P2MON_PLACE = 19,
	P2MON_FORK = 20,

	M2MON_REGISTER = 32,
	M2MON_HEARTBEAT = 33,

	P2M_READ = 48,
	P2M_WRITE = 49,
	P2M_FREE = 50,
	P2M_RESERVE = 51,
	P2M_AS_EXIT = 52,
	P2M_CLONE = 53,

	/* Storage (docs/storage.md). */
	S2MON_REGISTER = 36,  /* storenode to monitor */
	S2MON_HEARTBEAT = 37,
	M2MON_STORE = 38,     /* memnode to monitor: which storenode serves files */
	P2MON_FILES = 21,     /* process to monitor: which memnode serves my files */
	P2MON_STATS = 22,     /* process to monitor: its counters, every second */
	T2MON_PROCS = 23,     /* tool to monitor: processes and their counters */
	T2MON_STATUS = 24,    /* tool to monitor: cluster summary (docs/cluster.md) */
	T2MON_NODES = 25,     /* tool to monitor: memnodes and storenodes */
	T2MON_PLACES = 26,    /* tool to monitor: where processes' memory lives */
	P2MON_MOVES = 27,     /* process to monitor: granule copies to move (docs/cluster.md) */
	P2MON_MOVED = 28,     /* process to monitor: one move done (or failed) */
	T2MON_DRAIN = 29,     /* tool to monitor: move everything off a memnode */

	/* File operations: a process sends them to its memnode (page cache),
	 * which sends the same messages on to the storenode. */
	X2F_OPEN = 64,
	X2F_STAT = 65,
	X2F_READ = 66,
	X2F_WRITE = 67,
	X2F_TRUNCATE = 68,
	X2F_FSYNC = 69,
	X2F_UNLINK = 70,
	X2F_RMDIR = 71,
	X2F_MKDIR = 72,
	X2F_RENAME = 73,
	X2F_LIST = 74,
	X2F_CLOSE = 75,
	X2F_SETATTR = 76, /* chmod, utimensat */
	X2F_STATFS = 77,  /* statfs, statvfs */
	X2F_SYMLINK = 78,
	X2F_READLINK = 79, /* readlink; with LEGO_F_WALK where a path leaves the store */
	X2F_LINK = 80,     /* a hard link: path2 a new name of path's file */

	LEGO_OPCODE_MAX = 96
};

/* hdr.flags */
#define LEGO_F_REPLY 0x1u
/* Request: a successful reply whose body is just longer than the
 * endpoint's compact size less a header (fabric.h: shm, 4 KiB; a line's
 * read) may come as the body alone, with (low 32 bits of req_id) << 32 |
 * CRC32C of the body as the message's data.  So it fits shm's inline copy
 * instead of a system call per reply. */
#define LEGO_F_COMPACT 0x2u

struct lego_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t opcode;
	uint32_t len;     /* whole message including this header */
	int32_t status;   /* replies: 0 or -errno */
	uint64_t req_id;  /* echoed in the reply */
	uint32_t conn;    /* server-assigned connection index (HELLO: 0) */
	uint32_t flags;
	uint64_t session; /* session secret (HELLO, AUTH: 0) */
	uint32_t crc;     /* CRC32C of the message, computed with this field 0 */
	uint32_t pad;
};
_Static_assert(sizeof(struct lego_hdr) == 48, "lego_hdr size");

/* Peer roles, in HELLO. */
enum lego_role {
	LEGO_ROLE_PROCESS = 1,
	LEGO_ROLE_MEMNODE = 2,
	LEGO_ROLE_TOOL = 3,
	LEGO_ROLE_STORENODE = 4
};

/* Fabric providers, as sent on the wire. */
enum lego_prov { LEGO_PROV_TCP = 1, LEGO_PROV_SHM = 2, LEGO_PROV_VERBS = 3 };

struct lego_hello_req {
	uint32_t role;
	uint32_t prov;
	uint32_t addr_len;
	uint32_t pad;
	uint8_t nonce[LEGO_NONCE_LEN];
	uint8_t addr[LEGO_ADDR_MAX]; /* the client's own fabric address */
};
_Static_assert(sizeof(struct lego_hello_req) == 144, "hello_req size");

struct lego_hello_rep {
	uint32_t conn;
	uint32_t pad;
	uint8_t nonce[LEGO_NONCE_LEN];
	uint8_t proof[LEGO_MAC_LEN];
};
_Static_assert(sizeof(struct lego_hello_rep) == 72, "hello_rep size");

struct lego_auth_req {
	uint8_t proof[LEGO_MAC_LEN];
};
_Static_assert(sizeof(struct lego_auth_req) == 32, "auth_req size");

/* A node as the monitor describes it to others. */
struct lego_node_addr {
	uint32_t node_id;
	uint16_t net_prov;          /* LEGO_PROV_TCP or LEGO_PROV_VERBS */
	uint16_t net_len;
	uint8_t net[LEGO_ADDR_MAX]; /* raw network address (sockaddr) */
	char shm[LEGO_HOST_MAX];    /* shm endpoint name, "" if none */
	char host_id[40];           /* identifies the host (boot id) */
};
_Static_assert(sizeof(struct lego_node_addr) == 208, "node_addr size");

struct lego_p2mon_register_req {
	uint32_t pid;
	uint32_t line_order;
	uint64_t quota;   /* bytes, 0 = none */
	char host[LEGO_HOST_MAX]; /* host name, for people */
	char host_id[40];         /* as in lego_node_addr: a monitor on the same
				     host watches the pid and frees the memory
				     as soon as the process is gone */
	uint32_t replicas;        /* copies of each granule wanted (1 or 2) */
	uint32_t pad;
};
_Static_assert(sizeof(struct lego_p2mon_register_req) == 128, "reg size");

/* The capability a process shows memnodes for its address space. */
struct lego_as_ref {
	uint64_t as_id;
	uint8_t cap[LEGO_CAP_LEN];
	uint32_t line_order;
	uint32_t pad;
	uint64_t quota;
};
_Static_assert(sizeof(struct lego_as_ref) == 40, "as_ref size");

struct lego_p2mon_register_rep {
	struct lego_as_ref as;
	uint32_t lease_ms;
	uint32_t granule_order;
};
_Static_assert(sizeof(struct lego_p2mon_register_rep) == 48, "reg rep size");

struct lego_p2mon_as_req { /* HEARTBEAT, EXIT, FORK, P2M_AS_EXIT */
	struct lego_as_ref as;
	uint32_t pid; /* HEARTBEAT: the process's pid (a forked child's first
			 heartbeat tells the monitor who it is) */
	uint32_t pad;
};
_Static_assert(sizeof(struct lego_p2mon_as_req) == 48, "as_req size");

/* P2MON_HEARTBEAT reply: the memnodes that are down while holding the only
 * copy of some of this process's granules (its memory there is lost), and
 * how long the monitor has not heard from the first; the memnodes that
 * are down holding copies that have a live replica (the process stops
 * using them and goes on with the replicas); and how many granule copies
 * the monitor wants the process to move (P2MON_MOVES). */
#define LEGO_HB_LOST_MAX 16
#define LEGO_HB_LEFT     0x80000000u /* in down[]: that memnode was drained and left */
struct lego_p2mon_hb_rep {
	uint32_t nr_lost;
	uint32_t silent_ms;
	uint32_t lost[LEGO_HB_LOST_MAX];
	uint32_t nr_down;
	uint32_t moves;
	uint32_t down[LEGO_HB_LOST_MAX];
};
_Static_assert(sizeof(struct lego_p2mon_hb_rep) == 144, "p hb rep size");

/* P2M_CLONE: make `child` a copy-on-write copy of `parent` (fork). */
struct lego_clone_req {
	struct lego_as_ref parent;
	struct lego_as_ref child;
};
_Static_assert(sizeof(struct lego_clone_req) == 80, "clone_req size");

struct lego_p2mon_place_req {
	struct lego_as_ref as;
	uint64_t granule;
};
_Static_assert(sizeof(struct lego_p2mon_place_req) == 48, "place size");

struct lego_p2mon_place_rep {
	uint64_t granule;
	struct lego_node_addr node;
	struct lego_node_addr replica; /* node_id 0: none */
};
_Static_assert(sizeof(struct lego_p2mon_place_rep) == 424, "place rep size");

struct lego_m2mon_register_req {
	uint64_t capacity;
	struct lego_node_addr addr; /* node_id ignored */
};
_Static_assert(sizeof(struct lego_m2mon_register_req) == 216, "m reg size");

struct lego_m2mon_register_rep {
	uint32_t node_id;
	uint32_t heartbeat_ms;
	uint8_t secret[LEGO_MAC_LEN]; /* verifies process capabilities */
};
_Static_assert(sizeof(struct lego_m2mon_register_rep) == 40, "m reg rep size");

struct lego_m2mon_heartbeat_req {
	uint32_t node_id;
	uint32_t nr_as;
	uint64_t capacity;
	uint64_t reserved;
	uint64_t stored;
	/* bytes of lines processes read and wrote since the memnode started
	 * (the monitor turns them into a rate for placement "traffic");
	 * 0 from storenodes */
	uint64_t read_bytes;
	uint64_t write_bytes;
	/* the node's process (0: unknown): a monitor of the same host does
	 * not declare a node down that is only stopped */
	uint32_t pid;
	uint32_t pad;
};
_Static_assert(sizeof(struct lego_m2mon_heartbeat_req) == 56, "m hb size");

/* Reply: address spaces whose owner is gone; the memnode frees them.
 * flags LEGO_HB_LEAVE: the memnode was drained (every granule moved
 * elsewhere): it leaves the cluster (exits). */
#define LEGO_HB_FREE_MAX 64
#define LEGO_HB_LEAVE    0x1u
struct lego_m2mon_heartbeat_rep {
	uint32_t nr_free;
	uint32_t flags;
	uint64_t free_as[LEGO_HB_FREE_MAX];
};
_Static_assert(sizeof(struct lego_m2mon_heartbeat_rep) == 520, "m hb rep");

/* One line in a READ or WRITE batch. */
struct lego_line_ref {
	uint64_t line; /* line index in the address space */
	uint64_t seq;  /* WRITE: write-back sequence; a memnode keeps the newest */
};
_Static_assert(sizeof(struct lego_line_ref) == 16, "line_ref size");

/*
 * P2M_READ: body = lego_lines_req + count line_refs.
 *   reply body = count lines of data, in request order; with flags
 *   LEGO_LINES_SEQ, count line_refs first, each with the sequence of the
 *   line as stored (0: never written), then the data (a granule's copy
 *   moves with its sequences, so a newer write-back always wins).
 * P2M_WRITE: body = lego_lines_req + count line_refs + count lines of data.
 */
#define LEGO_LINES_SEQ 0x1u
/* P2M_WRITE with LEGO_LINES_WHERE (shm clients of a memnode that allows
 * one-sided reads): the reply body is lego_where_rep and then count
 * uint64_t, the memnode's address of each line as now stored (0: none:
 * all zeros, or a newer write-back is stored), to be read there with
 * process_vm_readv from the memnode's process, `pid`.  A memnode that does
 * not allow them answers with lego_count_rep. */
#define LEGO_LINES_WHERE 0x2u
struct lego_where_rep {
	uint64_t count;
	uint64_t pid;
};
_Static_assert(sizeof(struct lego_where_rep) == 16, "where_rep size");
/* With LEGO_LINES_WHERE, from a client that reads over the network (a
 * provider with FI_RMA): the reply body is lego_where_rep (pid 0) and then
 * count lego_where_key, each line's registered address (the virtual
 * address or the offset in its registration, as the provider addresses
 * it; 0: none) and the registration's key, for fi_read. */
#define LEGO_LINES_KEYS 0x4u
struct lego_where_key {
	uint64_t addr;
	uint64_t key;
};
_Static_assert(sizeof(struct lego_where_key) == 16, "where_key size");
struct lego_lines_req {
	struct lego_as_ref as;
	uint32_t count;
	uint32_t flags;
};
_Static_assert(sizeof(struct lego_lines_req) == 48, "lines_req size");

struct lego_free_req {
	struct lego_as_ref as;
	uint64_t first_line;
	uint64_t nr_lines;
};
_Static_assert(sizeof(struct lego_free_req) == 56, "free_req size");

struct lego_reserve_req {
	struct lego_as_ref as;
	int64_t delta; /* bytes; negative releases */
};
_Static_assert(sizeof(struct lego_reserve_req) == 48, "reserve size");

struct lego_reserve_rep {
	uint64_t reserved; /* this address space's reservation after the call */
};

/* Generic reply for FREE and WRITE: how much changed. */
struct lego_count_rep {
	uint64_t count;
};

/* Reply of an appending WRITE (LEGO_F_APPEND): the bytes written and the
 * offset they went to, the end of the file as the server saw it. */
struct lego_append_rep {
	uint64_t count;
	uint64_t off;
};

/* P2MON_STATS: lego_p2mon_as_req, then the process's counters as
 * "key:value\n" text (at most LEGO_STATS_TEXT_MAX bytes); no reply body.
 * T2MON_PROCS: body lego_procs_req; reply: per process (or the one asked
 * for), "proc:PID\nhost:NAME\nas_id:N\nstats_age_ms:N\n" then its last
 * counters, records separated by an empty line.  -ESRCH: no such pid. */
#define LEGO_STATS_TEXT_MAX (16u * 1024)
struct lego_procs_req {
	uint32_t pid; /* 0: all */
	uint32_t pad;
};
_Static_assert(sizeof(struct lego_procs_req) == 8, "procs_req size");

/*
 * Cluster views for tools (legoctl status, nodes, procs).  Replies are at
 * most LEGO_VIEW_MAX bytes; a list that does not fit says `more`, and the
 * tool asks again from the last entry it got (`after`).
 */
#define LEGO_VIEW_MAX (60u * 1024)

/* Placement policies of the monitor (the option's choices, in order). */
enum lego_placement { LEGO_PLACE_FREE = 0, LEGO_PLACE_RR = 1, LEGO_PLACE_TRAFFIC = 2 };

/* T2MON_STATUS: empty body; reply lego_mon_status. */
struct lego_mon_status {
	uint32_t memnodes, memnodes_up;
	uint32_t storenodes, storenodes_up;
	uint32_t processes;
	uint32_t placement; /* enum lego_placement */
	uint32_t granule_order;
	uint32_t pad;
	uint64_t capacity;  /* of the memnodes that are up */
	uint64_t reserved;
	uint64_t stored;
	uint64_t granules;  /* placed, all processes */
	uint64_t procs_registered, procs_exited, procs_expired;
	uint64_t nodes_down; /* times a memnode was marked down */
	uint64_t uptime_ms;
};
_Static_assert(sizeof(struct lego_mon_status) == 104, "mon_status size");

/* T2MON_NODES: the nodes of one role with id > after, ascending; reply
 * lego_nodes_rep then `count` lego_node_info. */
struct lego_nodes_req {
	uint32_t role;  /* LEGO_ROLE_MEMNODE or LEGO_ROLE_STORENODE */
	uint32_t after; /* node id; 0 = from the start */
};
_Static_assert(sizeof(struct lego_nodes_req) == 8, "nodes_req size");

struct lego_nodes_rep {
	uint32_t total; /* nodes of that role */
	uint32_t count; /* records in this reply */
	uint32_t more;  /* 1: ask again with after = the last id */
	uint32_t pad;
};
_Static_assert(sizeof(struct lego_nodes_rep) == 16, "nodes_rep size");

struct lego_node_info {
	uint32_t id;
	uint32_t role;
	uint32_t up;
	uint32_t nr_as;     /* address spaces it holds */
	uint64_t capacity;  /* storenodes: bytes free under the root */
	uint64_t reserved;
	uint64_t stored;
	uint64_t granules;  /* placed on it (memnodes) */
	uint64_t read_bytes, write_bytes; /* lines served, since it started */
	uint64_t traffic;   /* bytes/s read + written, last heartbeat interval */
	uint64_t hb_age_ms; /* since its last heartbeat */
	char addr[64];      /* "HOST:PORT" (or "shm:NAME"), NUL-terminated */
};
_Static_assert(sizeof(struct lego_node_info) == 144, "node_info size");

/* T2MON_PLACES: processes with as_id > after (pid 0: all, else that pid),
 * in as_id order.  Reply lego_places_rep, then per process a
 * lego_proc_place followed by nr_nodes lego_place_count (memnodes holding
 * copies of its granules, ascending id). */
struct lego_places_req {
	uint64_t after;
	uint32_t pid;
	uint32_t pad;
};
_Static_assert(sizeof(struct lego_places_req) == 16, "places_req size");

struct lego_places_rep {
	uint32_t total; /* processes that match */
	uint32_t count; /* records in this reply */
	uint32_t more;  /* 1: ask again with after = the last as_id */
	uint32_t granule_order;
};
_Static_assert(sizeof(struct lego_places_rep) == 16, "places_rep size");

struct lego_proc_place {
	uint64_t as_id;
	uint32_t pid;
	uint32_t nr_nodes;  /* lego_place_count records that follow */
	uint64_t granules;  /* placed, on all memnodes */
	char host[LEGO_HOST_MAX];
};
_Static_assert(sizeof(struct lego_proc_place) == 88, "proc_place size");

struct lego_place_count {
	uint32_t node_id;
	uint32_t granules;  /* primary copies on that memnode */
	uint32_t copies;    /* copies of any kind (primary or replica) */
	uint32_t pad;
};
_Static_assert(sizeof(struct lego_place_count) == 16, "place_count size");

/*
 * Moving granule copies (docs/cluster.md "Moving granules").  The monitor
 * plans a move when a copy sits on a memnode that died (re-replication:
 * the process keeps two copies) or that is being drained; the process,
 * the only one that knows which of its write-backs are in flight, copies
 * the lines from a complete copy to the new memnode and reports.
 *
 * P2MON_MOVES: body lego_p2mon_as_req; reply lego_moves_rep then count
 * lego_move (at most LEGO_MOVES_MAX; the heartbeat says when more wait).
 * P2MON_MOVED: body lego_p2mon_moved_req; no reply body.
 */
#define LEGO_MOVES_MAX 32
struct lego_move {
	uint64_t granule;
	uint32_t from; /* memnode whose copy goes */
	uint32_t pad;
	struct lego_node_addr to; /* memnode that gets a copy */
};
_Static_assert(sizeof(struct lego_move) == 224, "move size");

struct lego_moves_rep {
	uint32_t count;
	uint32_t pad;
};

struct lego_p2mon_moved_req {
	struct lego_as_ref as;
	uint64_t granule;
	uint32_t from, to;
	int32_t status; /* 0: the copy on `to` is complete; else -errno */
	uint32_t pad;
};
_Static_assert(sizeof(struct lego_p2mon_moved_req) == 64, "moved size");

/* T2MON_DRAIN: start draining a memnode (again: no-op) and say how far
 * it is.  Reply lego_drain_rep.  -ENOENT: no such memnode; -EHOSTDOWN: it
 * is down (its copies are re-replicated, not drained); -ENOSPC: no other
 * memnode is up to take its granules. */
struct lego_drain_req {
	uint32_t node_id;
	uint32_t pad;
};
_Static_assert(sizeof(struct lego_drain_req) == 8, "drain_req size");

struct lego_drain_rep {
	uint32_t state;     /* LEGO_NODE_DRAINING or LEGO_NODE_LEFT */
	uint32_t pad;
	uint64_t remaining; /* granule copies still on it */
	uint64_t moved;     /* copies moved off it so far */
};
_Static_assert(sizeof(struct lego_drain_rep) == 24, "drain_rep size");

/* lego_node_info.up: a memnode's state. */
enum lego_node_state {
	LEGO_NODE_DOWN = 0,
	LEGO_NODE_UP = 1,
	LEGO_NODE_DRAINING = 2, /* up; its granules are moving off; no new ones */
	LEGO_NODE_LEFT = 3      /* drained and told to leave */
};

/* ------------------------------------------------------------- storage */

/* S2MON_REGISTER: a storenode announces itself (reply: lego_m2mon_register_rep,
 * secret unused).  S2MON_HEARTBEAT: body lego_m2mon_heartbeat_req (capacity =
 * bytes free under its root, stored = bytes used).  M2MON_STORE and
 * P2MON_FILES: empty body (P2MON_FILES: lego_p2mon_as_req), reply
 * lego_node_addr; -ENOENT when there is none. */

#define LEGO_PATH_MAX 4095 /* bytes of a path on the wire, no NUL */

/*
 * Every X2F_ request: this header, then path_len bytes of path, then
 * path2_len bytes of a second path (RENAME: the new name; SYMLINK: the
 * target), then (WRITE) len bytes of data.  Paths are relative to the
 * store's root ("" is the root itself), '/'-separated, without NUL; the
 * storenode resolves them inside its root and refuses any that would leave
 * it (see "Symbolic links" below).
 *
 * ino names the file an earlier OPEN or STAT returned: READ, WRITE,
 * TRUNCATE, FSYNC and CLOSE carry it, and the storenode refuses with -ESTALE
 * when the path no longer names that file (renamed or deleted meanwhile).
 */
struct lego_file_req {
	uint64_t ino;
	uint64_t off;     /* READ/WRITE: offset; TRUNCATE: new length; LIST: resume cookie */
	uint64_t len;     /* READ: bytes wanted; WRITE: bytes of data that follow */
	uint32_t flags;   /* OPEN: Linux O_* flags; STAT: LEGO_F_NOFOLLOW; FSYNC: LEGO_F_DATASYNC;
			   * WRITE: LEGO_F_APPEND; TRUNCATE: LEGO_F_EXTEND; SETATTR: LEGO_SA_*;
			   * READLINK: LEGO_F_WALK, LEGO_F_NOFOLLOW; LINK: LEGO_F_FOLLOW */
	uint32_t mode;    /* OPEN (with O_CREAT), MKDIR: permission bits */
	uint16_t path_len;
	uint16_t path2_len;
	uint32_t pad;
};
_Static_assert(sizeof(struct lego_file_req) == 40, "file_req size");

#define LEGO_F_NOFOLLOW 0x1u  /* STAT, SETATTR: lstat, AT_SYMLINK_NOFOLLOW */
#define LEGO_F_DATASYNC 0x1u  /* FSYNC: fdatasync */
#define LEGO_F_APPEND 0x1u    /* WRITE: at the end of the file (off ignored); reply lego_append_rep */
#define LEGO_F_EXTEND 0x1u    /* TRUNCATE: only to make the file longer (fallocate) */
#define LEGO_F_WALK 0x2u      /* READLINK: where the path leaves the store (with
			       * LEGO_F_NOFOLLOW: not by its last component) */
#define LEGO_F_FOLLOW 0x1u    /* LINK: path2 names what path's link leads to
			       * (AT_SYMLINK_FOLLOW), not the link */

/* SETATTR: flags say what changes (and LEGO_F_NOFOLLOW); mode is the
 * new permission bits (the storenode drops set-user-ID and set-group-ID),
 * off and len the new access and modification times in nanoseconds since
 * the epoch (signed).  With ino != 0 the path must still name that file
 * (-ESTALE).  Reply: the new lego_fstat. */
#define LEGO_SA_MODE 0x02u
#define LEGO_SA_ATIME 0x04u     /* set the access time to off */
#define LEGO_SA_MTIME 0x08u     /* set the modification time to len */
#define LEGO_SA_ATIME_NOW 0x10u /* set the access time to the storenode's now */
#define LEGO_SA_MTIME_NOW 0x20u
#define LEGO_SA_ALL (LEGO_F_NOFOLLOW | LEGO_SA_MODE | LEGO_SA_ATIME | LEGO_SA_MTIME | \
		     LEGO_SA_ATIME_NOW | LEGO_SA_MTIME_NOW)

/* STATFS (the path names any file of the store, which must exist): the
 * file system that holds it, as statvfs gives it (Linux values). */
struct lego_statfs {
	uint64_t type;   /* statfs's f_type */
	uint64_t bsize, frsize;
	uint64_t blocks, bfree, bavail; /* in frsize units */
	uint64_t files, ffree, favail;
	uint64_t fsid;
	uint64_t flag;   /* ST_* */
	uint64_t namemax;
};
_Static_assert(sizeof(struct lego_statfs) == 96, "statfs size");

/* Times on the wire (lego_fstat, SETATTR): signed nanoseconds since 1970,
 * two's complement in a u64, so times before 1970 are times too. */
static inline uint64_t lego_time_wire(struct timespec t)
{
	return (uint64_t)((int64_t)t.tv_sec * 1000000000 + t.tv_nsec);
}

static inline struct timespec lego_time_ts(uint64_t wire)
{
	int64_t ns = (int64_t)wire, sec = ns / 1000000000, rem = ns % 1000000000;
	if (rem < 0) {
		sec--;
		rem += 1000000000;
	}
	return (struct timespec){(time_t)sec, (long)rem};
}

/* Reply of OPEN and STAT: the file's attributes (Linux values). */
struct lego_fstat {
	uint64_t ino;
	uint64_t dev;
	uint64_t size;
	uint64_t blocks; /* 512-byte units */
	uint64_t atime_ns, mtime_ns, ctime_ns; /* signed nanoseconds since 1970 */
	uint32_t mode;   /* type and permission bits */
	uint32_t nlink;
	uint32_t uid, gid;
	uint32_t blksize;
	uint32_t pad;
};
_Static_assert(sizeof(struct lego_fstat) == 80, "fstat size");

/*
 * Symbolic links.  SYMLINK makes path a link whose target is path2, any
 * bytes without NUL, kept as given (an absolute target names a file in
 * the client's namespace).  READLINK's reply is the target of the link
 * path names.  The storenode follows a link only while it stays beneath
 * its root; a request whose path leaves it (a link to an absolute
 * target, or climbing out, or ".." above the root) is refused with
 * -EXDEV, and the client then asks READLINK with LEGO_F_WALK, whose reply
 * is lego_walk_rep, then base_len bytes of the directory (from the root,
 * no links: "" is the root) that holds the first component through which
 * the path leaves, then target_len bytes of where that component leads
 * (a link's target, or ".." for ".." itself).  The client goes on from
 * there, target, then the path after its first `consumed` bytes; the
 * same -EXDEV when no component leaves (an escape it cannot follow).
 *
 * OPEN's reply is lego_fstat, then the path of the file opened from the
 * root with the links on the way followed (as the storenode's kernel names
 * it), which the client's descriptor and the memnode's cache then use.
 */
/* UNLINK's reply: the inode the name had, and the links (names) it has
 * left: a file with another name is not gone.  (A storenode before
 * protocol 10 sent the inode alone.) */
struct lego_unlink_rep {
	uint64_t ino;
	uint64_t nlink;
};
_Static_assert(sizeof(struct lego_unlink_rep) == 16, "unlink_rep size");

struct lego_walk_rep {
	uint32_t consumed;
	uint16_t base_len;
	uint16_t target_len;
};
_Static_assert(sizeof(struct lego_walk_rep) == 8, "walk_rep size");

/* READ reply: the bytes read (fewer than asked at end of file).
 * WRITE reply: lego_count_rep (bytes written).  UNLINK: lego_unlink_rep.
 * TRUNCATE, FSYNC, RMDIR, MKDIR, RENAME, CLOSE: no body.  SETATTR: lego_fstat.
 *
 * LIST reply: lego_dirent records, each padded to 8 bytes, up to
 * LEGO_LIST_MAX bytes; an empty reply is the end of the directory.
 * A record's cookie resumes the listing after it. */
struct lego_dirent {
	uint64_t ino;
	uint64_t cookie;
	uint16_t reclen;   /* whole record, a multiple of 8 */
	uint8_t type;      /* DT_* */
	uint8_t pad;
	uint16_t name_len; /* bytes of name, which follows (no NUL) */
	uint16_t pad2;
};
_Static_assert(sizeof(struct lego_dirent) == 24, "dirent size");
#define LEGO_LIST_MAX (60u * 1024)

/* Largest READ or WRITE in one message. */
#define LEGO_FILE_IO_MAX (1u << 20)

#endif /* LEGO_PROTO_H */

/*
 * Reading a fuzzer's input as a stream of small fields.  Past the end every
 * read gives zeros, so a harness never checks lengths: a short input is a
 * valid input with zeros at the end.  FUZZ_CHECK stops the run with a
 * report when a harness's own invariant fails (not a sanitizer finding, but
 * a bug all the same).
 */
#ifndef LEGO_FUZZ_INPUT_H
#define LEGO_FUZZ_INPUT_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "fabric/fabric.h"

/* LLVMFuzzerInitialize of the targets that run Lego code: every log
 * message is formatted, none printed.  (libfabric, whose libinfinipath
 * would catch the fuzzer's signals, loads only with an endpoint, with
 * the dispositions put back: fabric/fiload.h.) */
static inline void fuzz_lego_init(void)
{
	lg_set_level(LG_INFO);
	lg_set_fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
}

struct fin {
	const uint8_t *p;
	size_t n;
};

static inline int fin_left(const struct fin *f) { return f->n > 0; }

static inline void fin_bytes(struct fin *f, void *dst, size_t len)
{
	size_t k = len < f->n ? len : f->n;
	memcpy(dst, f->p, k);
	memset((uint8_t *)dst + k, 0, len - k);
	f->p += k;
	f->n -= k;
}

static inline uint8_t fin_u8(struct fin *f)
{
	uint8_t v;
	fin_bytes(f, &v, 1);
	return v;
}

static inline uint16_t fin_u16(struct fin *f)
{
	uint16_t v;
	fin_bytes(f, &v, 2);
	return v;
}

static inline uint32_t fin_u32(struct fin *f)
{
	uint32_t v;
	fin_bytes(f, &v, 4);
	return v;
}

static inline uint64_t fin_u64(struct fin *f)
{
	uint64_t v;
	fin_bytes(f, &v, 8);
	return v;
}

#define FUZZ_CHECK(cond)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #cond);                               \
			abort();                                                \
		}                                                               \
	} while (0)

#endif

/*
 * Signals in transparent mode.
 *
 * Lego itself takes no signal (userfaultfd serves its faults), so the
 * kernel delivers every signal to the program's own handlers.  Three things
 * need help, and sigaction/signal are interposed for them; the program
 * always reads back the action it installed.
 *
 * - SIGSEGV: remote address space that is not mapped is kept reserved
 *   (PROT_NONE), so the kernel reports a touch of it as SEGV_ACCERR where,
 *   natively, it would be SEGV_MAPERR.  The program's handler is called
 *   through a trampoline that puts si_code right.
 * - SIGTERM, SIGINT, SIGHUP left at their default action: the process
 *   would die with messages half sent to or from a memnode, and the shm
 *   provider does not recover from a peer that dies in the middle of a
 *   large transfer.  Lego's handler waits (at most LG_SIG_QUIESCE_MS) for
 *   the requests in flight, then dies of the signal exactly as the default
 *   action would.
 *
 * - The signals whose default action dumps core (SIGSEGV, SIGBUS, SIGABRT
 *   and kin, core.h) left at their default: the core file would show
 *   zeros where memory was remote.  Lego's handler brings the remote
 *   memory back if a core file is to be written, quiesces as above, and
 *   dies of the signal.
 *
 * The same holds for _exit and _Exit (interposed in preload.c), which a
 * forked child typically ends with while its runtime threads still have
 * write-backs on the wire: a memnode that had yet to copy one out of the
 * dead child's memory stopped serving every process (it_threads_fork).
 */
#ifndef LEGO_SIG_H
#define LEGO_SIG_H

#include <signal.h>

#define LG_SIG_QUIESCE_MS 300

/* sigaction(2) as the program sees it: 0 or -errno. */
int lg_sig_action(int sig, const struct sigaction *act, struct sigaction *old);

/* LEGO_FAULT=sigbus (fault.h): install the SIGBUS handler that serves
 * misses; the program's own SIGBUS action is called for its faults.  In
 * this mode no action's mask and no thread's mask may block SIGBUS (a
 * miss would kill the thread's process): sigaction and lg_sig_mask take
 * it out.  0 or -errno. */
int lg_sig_bus_start(void);

/* For sigprocmask and pthread_sigmask: the set to give the C library,
 * set itself or, in SIGBUS mode, *copy made of it without SIGBUS. */
const sigset_t *lg_sig_mask(int how, const sigset_t *set, sigset_t *copy);

/* At runtime start (transparent mode): take over the default actions
 * described above. */
void lg_sig_start(void);

/* Before the process ends: wait at most LG_SIG_QUIESCE_MS for the
 * requests in flight to be answered.  Async-signal-safe. */
void lg_quiesce(void);

#endif

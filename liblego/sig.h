/*
 * The program's SIGSEGV handler in transparent mode.
 *
 * Lego itself takes no signal (userfaultfd serves its faults), so the
 * kernel delivers every fault the program causes, with the program's own
 * handler and siginfo.  One thing differs: remote address space that is
 * not mapped is kept reserved (PROT_NONE), so the kernel reports a touch of
 * it as SEGV_ACCERR where, natively, it would be SEGV_MAPERR.  A handler
 * the program installs for SIGSEGV is therefore called through a
 * trampoline that puts that si_code right; sigaction and signal report
 * the program's own handler back.  Everything else goes to the kernel.
 */
#ifndef LEGO_SIG_H
#define LEGO_SIG_H

#include <signal.h>

/* sigaction(2) as the program sees it: 0 or -errno. */
int lg_sig_action(int sig, const struct sigaction *act, struct sigaction *old);

#endif

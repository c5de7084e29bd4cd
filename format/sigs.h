/*
 * sigs.h - holding off the signals the programs clean up after.
 *
 * Between creating a temporary file and recording it where a signal handler
 * will find it (or unlinking it), a SIGINT would leave it behind; these
 * hold SIGINT, SIGTERM and SIGHUP for those few instructions.
 */
#ifndef OM_SIGS_H
#define OM_SIGS_H

#include <signal.h>

static inline void om_signals_hold(sigset_t *old)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGINT);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGHUP);
	sigprocmask(SIG_BLOCK, &s, old);
}

static inline void om_signals_release(const sigset_t *old)
{
	sigprocmask(SIG_SETMASK, old, NULL);
}

#endif

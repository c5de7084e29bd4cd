/*
 * err.h - the error handle of libom.
 *
 * libom never prints and never exits.  A function that can fail takes a
 * struct om_err * last, returns -1 (or NULL) on failure and leaves a one-line
 * message, lowercase and without a final full stop, in err->msg.  The
 * programs add their own name in front and print it.  A NULL handle is
 * allowed: the message is then dropped.
 */
#ifndef OM_ERR_H
#define OM_ERR_H

#include <stddef.h>

struct om_err {
	char msg[1024];
};

/* Set the message, printf-style; a longer message is cut. */
void om_err_set(struct om_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Put "prefix: " in front of the message already in err. */
void om_err_prefix(struct om_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif

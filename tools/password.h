/*
 * password.h - where the om programs get a bundle password from: a file
 * (--password-file), a descriptor (--password-fd), a file named by an
 * environment variable (OM_PASSWORD_FILE), an environment variable
 * (OM_PASSWORD), else a prompt on the terminal without echo, in that order.  Never from
 * the command line.  The password lives in sodium_malloc() memory, wiped
 * when freed.  A variable's value is copied and the environment left as it
 * is: POSIX forbids writing into getenv()'s string, and /proc/PID/environ
 * shows the environment the process started with whatever it unsets; the
 * man pages advise a file or a descriptor instead.
 */
#ifndef OM_PASSWORD_H
#define OM_PASSWORD_H

#include <stddef.h>

#include "../format/err.h"

/* The longest password read, in bytes. */
#define OM_PASSWORD_MAX 4096

struct om_password {
	char *p; /* sodium_malloc()ed, NUL-terminated */
	size_t len;
};

/* A password source: file, fd, or environment variable, else the terminal. */
struct om_pwsource {
	const char *file;
	int fd;           /* -1: none */
	const char *env;  /* the variable's name; NAME_FILE names a file */
	const char *prompt;
};

/* Is a source given (file, fd or variable set), so that no prompt is needed? */
int om_password_given(const struct om_pwsource *src);

/*
 * Read the password of src into pw: the first line of the file or the
 * descriptor (a CR before the newline dropped), the variable's value, or
 * asked on /dev/tty, twice when confirm is set.  -1 and err on trouble
 * (unreadable, empty, too long, no terminal, the two answers differ).
 */
int om_password_get(const struct om_pwsource *src, int confirm, struct om_password *pw,
		    struct om_err *err);

/* Wipe and free; pw->p may be NULL. */
void om_password_free(struct om_password *pw);

/* For a signal handler: give the terminal its echo back if a prompt is
 * under way (async-signal-safe). */
void om_password_restore_tty(void);

/* Parse the N of --password-fd (or a like option): the descriptor, or -1. */
int om_password_parse_fd(const char *s);

#endif

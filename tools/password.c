/* password.c - bundle passwords from a file, a descriptor, the environment
 * or the terminal (password.h). */
#include "password.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

static struct termios saved_tty;
static volatile int saved_tty_fd = -1;

void om_password_free(struct om_password *pw)
{
	sodium_free(pw->p); /* wipes */
	pw->p = NULL;
	pw->len = 0;
}

void om_password_restore_tty(void)
{
	if (saved_tty_fd >= 0)
		tcsetattr(saved_tty_fd, TCSAFLUSH, &saved_tty);
}

/* The value of the variable src->env with "_FILE" after its name
 * (OM_PASSWORD_FILE): a password file named in the environment. */
static const char *env_file(const struct om_pwsource *src)
{
	char name[128];
	const char *v;

	if (!src->env || snprintf(name, sizeof name, "%s_FILE", src->env) >= (int)sizeof name)
		return NULL;
	v = getenv(name);
	return v && *v ? v : NULL;
}

int om_password_given(const struct om_pwsource *src)
{
	const char *env = src->env ? getenv(src->env) : NULL;

	return src->file || src->fd >= 0 || env_file(src) || (env && *env);
}

int om_password_parse_fd(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > INT_MAX)
		return -1;
	return (int)v;
}

/* The first line of what fd gives (at most OM_PASSWORD_MAX bytes). */
static int read_fd(int fd, const char *what, struct om_password *pw, struct om_err *err)
{
	size_t n = 0;
	ssize_t r = 0;
	char *nl;

	if (!(pw->p = sodium_malloc(OM_PASSWORD_MAX + 1))) {
		om_err_set(err, "out of memory");
		return -1;
	}
	while (n < OM_PASSWORD_MAX && !memchr(pw->p, '\n', n) &&
	       ((r = read(fd, pw->p + n, OM_PASSWORD_MAX - n)) > 0 || (r < 0 && errno == EINTR)))
		if (r > 0)
			n += (size_t)r;
	if (n < OM_PASSWORD_MAX && !memchr(pw->p, '\n', n) && r < 0) {
		om_err_set(err, "cannot read the password from %s: %s", what, strerror(errno));
		goto bad;
	}
	if ((nl = memchr(pw->p, '\n', n))) {
		n = (size_t)(nl - pw->p);
	} else if (n == OM_PASSWORD_MAX) {
		om_err_set(err, "the password in %s is too long (over %d bytes)", what,
			   OM_PASSWORD_MAX);
		goto bad;
	}
	if (n && pw->p[n - 1] == '\r')
		n--;
	pw->p[n] = 0;
	pw->len = n;
	if (!n) {
		om_err_set(err, "the password in %s is empty", what);
		goto bad;
	}
	return 0;
bad:
	om_password_free(pw);
	return -1;
}

/* Ask on the terminal without echo. */
static int prompt(const char *text, struct om_password *pw, struct om_err *err)
{
	struct termios t;
	size_t n = 0;
	char ch;
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0) {
		om_err_set(err, "no password: give --password-file, --password-fd, OM_PASSWORD_FILE "
				"or OM_PASSWORD "
				"(no terminal to ask on)");
		return -1;
	}
	if (!(pw->p = sodium_malloc(OM_PASSWORD_MAX + 1))) {
		close(fd);
		om_err_set(err, "out of memory");
		return -1;
	}
	if (tcgetattr(fd, &t) == 0) {
		saved_tty = t;
		saved_tty_fd = fd;
		t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		tcsetattr(fd, TCSAFLUSH, &t);
	}
	if (write(fd, text, strlen(text)) < 0) {
		/* nothing to do: the read below still works */
	}
	while (read(fd, &ch, 1) == 1 && ch != '\n' && ch != '\r')
		if (n < OM_PASSWORD_MAX)
			pw->p[n++] = ch;
	ch = 0;
	om_password_restore_tty();
	saved_tty_fd = -1;
	if (write(fd, "\n", 1) < 0) {
		/* the newline is cosmetic */
	}
	close(fd);
	pw->p[n] = 0;
	pw->len = n;
	if (!n) {
		om_password_free(pw);
		om_err_set(err, "empty password");
		return -1;
	}
	return 0;
}

int om_password_get(const struct om_pwsource *src, int confirm, struct om_password *pw,
		    struct om_err *err)
{
	const char *env = src->env ? getenv(src->env) : NULL;

	const char *file = src->file ? src->file : src->fd < 0 ? env_file(src) : NULL;

	pw->p = NULL;
	pw->len = 0;
	if (file) {
		char what[4200];
		int fd = open(file, O_RDONLY | O_CLOEXEC), r;
		snprintf(what, sizeof what, "'%s'", file);
		if (fd < 0) {
			om_err_set(err, "cannot open password file '%s': %s", file,
				   strerror(errno));
			return -1;
		}
		r = read_fd(fd, what, pw, err);
		close(fd);
		return r;
	}
	if (src->fd >= 0) {
		char what[64];
		snprintf(what, sizeof what, "descriptor %d", src->fd);
		return read_fd(src->fd, what, pw, err);
	}
	if (env && *env) {
		pw->len = strlen(env);
		if (!(pw->p = sodium_malloc(pw->len + 1))) {
			om_err_set(err, "out of memory");
			return -1;
		}
		memcpy(pw->p, env, pw->len + 1);
		return 0;
	}
	if (prompt(src->prompt, pw, err) < 0)
		return -1;
	if (confirm) {
		char again[128];
		struct om_password pw2;
		snprintf(again, sizeof again, "%s(again) ", src->prompt);
		if (prompt(again, &pw2, err) < 0) {
			om_password_free(pw);
			return -1;
		}
		if (pw->len != pw2.len || sodium_memcmp(pw->p, pw2.p, pw->len) != 0) {
			om_password_free(&pw2);
			om_password_free(pw);
			om_err_set(err, "the passwords do not match");
			return -1;
		}
		om_password_free(&pw2);
	}
	return 0;
}

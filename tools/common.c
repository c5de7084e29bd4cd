#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef OM_VERSION
#define OM_VERSION "unknown"
#endif

const char *om_progname = "om";

void om_die(int status, const char *fmt, ...)
{
	va_list ap;

	om_progress_end();
	fflush(stdout);
	fprintf(stderr, "%s: ", om_progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

void om_die_usage(const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		fprintf(stderr, "%s: ", om_progname);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fprintf(stderr, "Try '%s --help' for more information.\n", om_progname);
	exit(2);
}

void om_close_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout) || fclose(stdout) != 0)
		om_die(2, "cannot write standard output: %s", strerror(errno));
}

void om_print_version(void)
{
	printf("%s (om) %s\n", om_progname, OM_VERSION);
	om_close_stdout();
}

int om_output_is_pipe(const char *out)
{
	struct stat st;

	if (strcmp(out, "-") != 0 || fstat(STDOUT_FILENO, &st) != 0)
		return 0;
	return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode);
}

/* ---- progress ---- */

static int progress_on, progress_shown;
static struct timespec progress_last;
static const char *progress_fmt;

void om_progress_init(int quiet)
{
	progress_on = !quiet && isatty(STDERR_FILENO);
}

void om_progress(const char *fmt, ...)
{
	struct timespec now;
	va_list ap;

	if (!progress_on)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	/* A new kind of line (a new phase) shows at once. */
	if (progress_shown && fmt == progress_fmt && (now.tv_sec - progress_last.tv_sec) * 1000000000L +
				      (now.tv_nsec - progress_last.tv_nsec) < 100000000L)
		return;
	progress_last = now;
	progress_fmt = fmt;
	progress_shown = 1;
	fprintf(stderr, "\r\033[K%s: ", om_progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

void om_progress_end(void)
{
	if (progress_shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		progress_shown = 0;
	}
}

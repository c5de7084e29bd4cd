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

/* The phase om_progress_rate() measures, and since when. */
static const char *rate_phase;
static struct timespec rate_start;

const char *om_progress_rate(const char *phase, unsigned long done, unsigned long total)
{
	static char buf[96];
	struct timespec now;
	double secs, rate;
	int n = 0;

	buf[0] = 0;
	if (!progress_on)
		return buf;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (phase != rate_phase) {
		rate_phase = phase;
		rate_start = now;
	}
	if (total && done <= total)
		n = snprintf(buf, sizeof buf, ", %lu%%", (unsigned long)(100.0 * done / total));
	secs = (double)(now.tv_sec - rate_start.tv_sec) + (now.tv_nsec - rate_start.tv_nsec) / 1e9;
	/* A rate means something after half a second, not before. */
	if (secs < 0.5 || !done)
		return buf;
	rate = done / secs;
	n += snprintf(buf + n, sizeof buf - (size_t)n, ", %.0f/s", rate);
	if (total > done) {
		unsigned long left = (unsigned long)((total - done) / rate + 0.5);
		snprintf(buf + n, sizeof buf - (size_t)n, ", %lu:%02lu left", left / 60, left % 60);
	}
	return buf;
}

void om_progress_end(void)
{
	if (progress_shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		progress_shown = 0;
	}
}

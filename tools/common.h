/*
 * common.h - what every om program does the same way: messages, exit
 * statuses, standard output.  Exit statuses: 0 success, 1 "the answer is
 * no", 2 trouble (usage, I/O, bad input, database).
 */
#ifndef OM_COMMON_H
#define OM_COMMON_H

extern const char *om_progname;

/* Print "prog: message" on standard error and exit with status. */
_Noreturn void om_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A usage error: the message (if any) and a pointer to --help; exit 2. */
_Noreturn void om_die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Flush and close standard output; a write error (a full disk) is exit 2. */
void om_close_stdout(void);

/* May clear secrets go to the output out ("-" is standard output)?  Only
 * into a pipe or a socket, never a terminal, a file or a directory. */
int om_output_is_pipe(const char *out);

/* "prog (om) VERSION" on standard output. */
void om_print_version(void);

/*
 * Progress of a long operation on standard error: one line, rewritten in
 * place at most ten times a second (a line of another format, a new
 * phase, at once), and only when standard error is a
 * terminal and the user did not ask for quiet (-q).  om_progress_end()
 * erases the line before the program says anything else.
 */
void om_progress_init(int quiet);
void om_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void om_progress_end(void);
/* ", 45%, 1200/s, 0:03 left" for done of total (0: not known) in phase (a
 * string constant: a new pointer starts a new measure); the percentage
 * only when total is known, the rate after half a second, the time left
 * when both are.  A static buffer, "" when no progress is shown. */
const char *om_progress_rate(const char *phase, unsigned long done, unsigned long total);
/* "document" or "documents", as n asks. */
#define OM_DOCUMENTS(n) ((n) == 1 ? "document" : "documents")

#endif

/* log: timestamped log lines, "YYYY-MM-DD HH:MM:SS role[pid] LEVEL message".
 *
 * Lines go to stderr; a daemon points stderr at its logFile, so one sink serves
 * the foreground and the daemon alike. Never log secret keys.
 *
 * Log rotation: once the daemon has told log_set_file() which path its stderr
 * is, every process of the role (master and children, each by itself) checks
 * on its next log line, at most once per reopen interval (1 s by default),
 * whether that path still names the file fd 2 writes to (device + inode). If
 * the path was renamed away (logrotate) or removed, it opens the path again
 * (O_WRONLY|O_APPEND|O_CREAT, mode 0640) and dup2()s it onto fd 2 (and onto
 * fd 1 when stdout was the same file). Lines written before the switch land in
 * the renamed file, so nothing is lost and no signal is needed. If the path
 * cannot be opened (its directory is gone) the old file is kept. */
#ifndef GW_LOG_H
#define GW_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* role is borrowed and must stay valid for the process lifetime (a literal). */
void log_init(const char *role, enum log_level min);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* fd 2 is (now) the file at path: follow the path when it is rotated. The path
 * is copied; NULL or "" turns the check off (the foreground default). */
void log_set_file(const char *path);
/* How often, at most, the path is compared with fd 2 (default 1000 ms; the
 * tests use 0: on every line). */
void log_set_reopen_interval_ms(int ms);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif

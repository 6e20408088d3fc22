/* log: timestamped log lines, "YYYY-MM-DD HH:MM:SS role[pid] LEVEL message".
 *
 * Lines go to stderr; a daemon points stderr at its logFile, so one sink serves
 * the foreground and the daemon alike. Never log secret keys. */
#ifndef GW_LOG_H
#define GW_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* role is borrowed and must stay valid for the process lifetime (a literal). */
void log_init(const char *role, enum log_level min);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif

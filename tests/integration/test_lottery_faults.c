/* The lottery under every fault of issue 10: test_lottery_kill.c built again
 * with its killer cycling through register kill -9 + restart, gateway kill -9
 * + restart, business kill -9, and SIGSTOP / SIGCONT (4 s) of a business
 * process, a gateway and the register, while phones sign in and the admin
 * draws. The same invariants afterwards: every acknowledged sign-in is in the
 * store, no winner twice, every acknowledged draw exactly once, verify
 * passes. LOTTERY_KILL_SEED / LOTTERY_KILLS work as there (default 12
 * faults: every kind twice). */
#define LK_FAULTS 1
#define LK_NAME "test_lottery_faults"
#include "test_lottery_kill.c"

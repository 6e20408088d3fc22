/* appenv: the application's settings and timers (gw_api.h §5, §6). */
#ifndef GW_BUSINESS_APPENV_H
#define GW_BUSINESS_APPENV_H

/* Drops every timer (the process is stopping; the loop is freed after). */
void appenv_timers_free(void);

#endif

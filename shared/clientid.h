/* clientid: the 20-hex-digit client_id of GatewayWorker (spec §4.2, §4.3).
 *
 * client_id = hex(u32 local_ip | u16 local_port | u32 connection_id), big-endian,
 * where local_ip:local_port is the gateway's *internal* address. It is what the
 * PHP API hands to applications, so it must round-trip bit for bit. Pure
 * functions; no allocation. */
#ifndef GW_CLIENTID_H
#define GW_CLIENTID_H

#include <stddef.h>
#include <stdint.h>

#define CLIENTID_LEN 20        /* hex digits, without the NUL */
#define CLIENTID_ADDR_MAX 22   /* "255.255.255.255:65535" plus its NUL */

/* Writes 20 lowercase hex digits and a NUL into out. */
void clientid_encode(uint32_t lan_ip, uint16_t lan_port, uint32_t conn_id, char out[CLIENTID_LEN + 1]);

/* Parses s[0..len) (only read; need not be NUL-terminated). Returns 0 and
 * sets the three outputs, or -1 — outputs untouched — unless s is exactly 20
 * hex digits (either case). PHP checks only the length; we also refuse
 * non-hex, since such an id can only name a client by accident. */
int clientid_decode(const char *s, size_t len, uint32_t *lan_ip, uint16_t *lan_port, uint32_t *conn_id);

/* Formats "a.b.c.d:port" exactly as PHP's long2ip($ip) . ':' . $port, the
 * key under which the register announced that gateway. Returns the length
 * written (without the NUL), or -1 when cap is too small (out then holds ""
 * if cap > 0). CLIENTID_ADDR_MAX always suffices. */
int clientid_gateway_address(uint32_t lan_ip, uint16_t lan_port, char *out, size_t cap);

#endif

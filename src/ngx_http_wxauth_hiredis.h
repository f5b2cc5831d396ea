/*
 * One hiredis async context on nginx's event loop: the nginx connection for its fd, the read
 * and write handlers, and hiredis's event hooks. Shared by the connection to Redis and the
 * links to the sentinels.
 *
 * An owner embeds ngx_http_wxauth_hiredis_t as its FIRST member: the hooks are handed a
 * pointer to it, and the owner's `gone` callback casts it back to the owner.
 */

#ifndef NGX_HTTP_WXAUTH_HIREDIS_H_INCLUDED_
#define NGX_HTTP_WXAUTH_HIREDIS_H_INCLUDED_

#include "ngx_http_wxauth_module.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


typedef struct ngx_http_wxauth_hiredis_s  ngx_http_wxauth_hiredis_t;

/* hiredis freed the context (closed, failed, dropped): `ac` and `c` are NULL by now */
typedef void (*ngx_http_wxauth_hiredis_gone_pt)(ngx_http_wxauth_hiredis_t *h);

struct ngx_http_wxauth_hiredis_s {
    redisAsyncContext                *ac;
    ngx_connection_t                 *c;
    ngx_log_t                        *log;
    const char                       *kind;    /* "redis", "sentinel": for log lines */
    ngx_str_t                        *name;    /* the peer as configured, for log lines */
    ngx_http_wxauth_hiredis_gone_pt   gone;
};


/*
 * Puts a context that redisAsyncConnect() (or ...Unix) just made, without error, on nginx's
 * event loop; ac->data stays the caller's. NGX_ERROR: no nginx connection was free (the
 * caller frees the context).
 */
ngx_int_t ngx_http_wxauth_hiredis_attach(ngx_http_wxauth_hiredis_t *h, redisAsyncContext *ac);

/* Flushes what is queued, in this iteration of the event loop when the socket is writable
 * (also the hook hiredis calls): for connect callbacks, whose commands were queued before. */
void ngx_http_wxauth_hiredis_add_write(void *privdata);


#endif /* NGX_HTTP_WXAUTH_HIREDIS_H_INCLUDED_ */

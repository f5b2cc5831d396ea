/*
 * A Redis master found through Redis Sentinel (`wxauth_redis_sentinel`): the sentinels of the
 * configuration, and this worker's two links to them, one that asks for the master's address
 * and one subscribed to +switch-master. The data connection itself stays the adapter's
 * (ngx_http_wxauth_redis.cpp): it connects to the address found here, and confirms with ROLE
 * that it is the master before any command of a request is sent.
 */

#ifndef NGX_HTTP_WXAUTH_REDIS_SENTINEL_H_INCLUDED_
#define NGX_HTTP_WXAUTH_REDIS_SENTINEL_H_INCLUDED_

#include "ngx_http_wxauth_redis.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_wxauth_hiredis.h"


typedef struct {
    ngx_str_t                         name;    /* as configured, for logs */
    ngx_str_t                         host;    /* numeric address, NUL-terminated */
    ngx_int_t                         port;
} ngx_http_wxauth_sentinel_addr_t;


typedef struct {
    ngx_http_wxauth_hiredis_t         h;        /* first: the hooks' privdata */
    ngx_http_wxauth_sentinel_t       *sentinel;
    ngx_uint_t                        index;    /* the sentinel it talks to */
    ngx_event_t                       timer;    /* ask: the deadline of the answer, then the
                                                   pause before the next try; subscription:
                                                   the pause before it is made again */
    unsigned                          answered:1;   /* ask: the master's address came */
    unsigned                          lost:1;       /* subscription: was up before, so a
                                                       new one asks the sentinels again */
    unsigned                          failure_logged:1;
} ngx_http_wxauth_sentinel_link_t;


struct ngx_http_wxauth_sentinel_s {
    ngx_str_t                         master_name;   /* NUL-terminated */
    ngx_array_t                       addrs;         /* ngx_http_wxauth_sentinel_addr_t */
    ngx_str_t                         password;      /* sentinel_password= */
    ngx_http_wxauth_redis_server_t   *server;

    /* this worker's (the configuration is private to each worker after fork) */
    ngx_log_t                        *log;
    ngx_http_wxauth_sentinel_link_t   ask;
    ngx_http_wxauth_sentinel_link_t   sub;
    ngx_uint_t                        tried;         /* sentinels asked in this round */
    ngx_str_t                         confirmed;     /* the last master ROLE confirmed */
    ngx_int_t                         confirmed_port;
    ngx_str_t                         named;         /* the last master a sentinel named */
    ngx_int_t                         named_port;
    unsigned                          exiting:1;
};


/* Configuration: `wxauth_redis_sentinel NAME ADDRESS...`: resolves the sentinels' names. */
char *ngx_http_wxauth_sentinel_parse(ngx_conf_t *cf, ngx_http_wxauth_redis_server_t *server,
    ngx_str_t *master_name, ngx_str_t *addresses, ngx_uint_t naddresses,
    ngx_str_t *sentinel_password);

/* In a worker: subscribes to +switch-master. */
ngx_int_t ngx_http_wxauth_sentinel_init_worker(ngx_http_wxauth_redis_server_t *server,
    ngx_log_t *log);
void ngx_http_wxauth_sentinel_exit_worker(ngx_http_wxauth_redis_server_t *server);

/* The master is unknown: ask the sentinels (once at a time; the adapter follows the answer). */
void ngx_http_wxauth_sentinel_discover(ngx_http_wxauth_redis_server_t *server);

/* The master is unknown again (lost, not a master, or no longer one). */
void ngx_http_wxauth_sentinel_forget(ngx_http_wxauth_redis_server_t *server);

/* ROLE confirmed the current address as the master: counts and logs a failover followed. */
void ngx_http_wxauth_sentinel_confirmed(ngx_http_wxauth_redis_server_t *server);


#endif /* NGX_HTTP_WXAUTH_REDIS_SENTINEL_H_INCLUDED_ */

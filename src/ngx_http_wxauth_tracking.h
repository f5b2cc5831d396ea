/*
 * Server-assisted invalidation for the session cache: per worker and per Redis server (a
 * wxauth_redis address, a sentinel master, later a cluster node: whatever has its own
 * ngx_http_wxauth_redis_server_t and data connection), a second connection that is subscribed
 * to __redis__:invalidate, and `CLIENT TRACKING ON REDIRECT <its id>` on the data connection.
 *
 * The Redis adapter calls two hooks: ngx_http_wxauth_tracking_data_ready() when its data
 * connection became ready, ngx_http_wxauth_tracking_data_gone() when it is gone. Both are
 * no-ops for a server without a tracking partner (server->tracking == NULL).
 */

#ifndef NGX_HTTP_WXAUTH_TRACKING_H_INCLUDED_
#define NGX_HTTP_WXAUTH_TRACKING_H_INCLUDED_

#include "ngx_http_wxauth_module.h"

#include <string>


typedef struct ngx_http_wxauth_tracking_s  ngx_http_wxauth_tracking_t;


/*
 * Gives the server a tracking partner (once; config time, or in a worker for servers made
 * there, then followed by ngx_http_wxauth_tracking_start). `identity` names the data set the
 * cache keys belong to: NULL for the server's own (its configured address or sentinel master
 * name, and db); a cluster passes one identity for all its nodes.
 */
ngx_int_t ngx_http_wxauth_tracking_add(ngx_pool_t *pool, ngx_http_wxauth_redis_server_t *server,
    ngx_str_t *identity);

/*
 * Hooks of the Redis adapter (ngx_http_wxauth_redis.cpp). open/close: a server's data
 * connection is made / closed for good in this worker (a configured server, a sentinel master,
 * a cluster node: a node of a cluster whose server has a partner gets one of its own, with the
 * cluster's identity); ready/gone: the data connection answered its setup / is gone.
 */
ngx_int_t ngx_http_wxauth_tracking_open(ngx_http_wxauth_redis_server_t *server,
    ngx_log_t *log);
void ngx_http_wxauth_tracking_close(ngx_http_wxauth_redis_server_t *server);
void ngx_http_wxauth_tracking_data_ready(ngx_http_wxauth_redis_server_t *server);
void ngx_http_wxauth_tracking_data_gone(ngx_http_wxauth_redis_server_t *server);

/*
 * For the cache: whether entries may be served and stored for this server now (the
 * invalidation connection is subscribed and the data connection confirmed tracking); the
 * invalidation log's mark, and whether nothing concerning `hash` happened since a mark.
 */
bool ngx_http_wxauth_tracking_trusted(ngx_http_wxauth_redis_server_t *server);
uint64_t ngx_http_wxauth_tracking_mark(ngx_http_wxauth_redis_server_t *server);
bool ngx_http_wxauth_tracking_clean_since(ngx_http_wxauth_redis_server_t *server,
    uint64_t mark, uint64_t hash);

/* The cache key of a session of this server: wxauth::cache_key_digest with its identity. */
std::string ngx_http_wxauth_tracking_digest(ngx_http_wxauth_redis_server_t *server,
    std::string_view storage_key);


#endif /* NGX_HTTP_WXAUTH_TRACKING_H_INCLUDED_ */

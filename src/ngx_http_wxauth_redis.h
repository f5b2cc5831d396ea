/*
 * One multiplexed, pipelining hiredis connection per worker and Redis server, driven by
 * nginx's event loop. Commands go out in batches; each batch has its own timer and its
 * handler is called exactly once (unless the owner detaches first).
 */

#ifndef NGX_HTTP_WXAUTH_REDIS_H_INCLUDED_
#define NGX_HTTP_WXAUTH_REDIS_H_INCLUDED_

#include "ngx_http_wxauth_module.h"

#include <string>
#include <vector>

#include "core/metrics.h"
#include "core/redis_reply.h"


typedef struct ngx_http_wxauth_redis_conn_s  ngx_http_wxauth_redis_conn_t;
typedef struct ngx_http_wxauth_sentinel_s    ngx_http_wxauth_sentinel_t;
typedef struct ngx_http_wxauth_cluster_s     ngx_http_wxauth_cluster_t;
typedef struct ngx_http_wxauth_tracking_s    ngx_http_wxauth_tracking_t;


/*
 * A Redis server: a fixed address (`wxauth_redis`), or the master that sentinels name
 * (`wxauth_redis_sentinel`; then name, host and port are this worker's current master, and
 * host.len is 0 while it is unknown), or a Redis Cluster (`wxauth_redis_cluster`: `cluster` is
 * set, and this server has no connection of its own: each node the slot map names is a server
 * of its own, made by the worker, with `cluster_of` pointing back here).
 */
struct ngx_http_wxauth_redis_server_s {
    ngx_str_t                       name;      /* as configured, for logs */
    ngx_str_t                       host;      /* numeric address, NUL-terminated */
    ngx_int_t                       port;
    ngx_str_t                       path;      /* unix socket, NUL-terminated */
    ngx_str_t                       password;
    ngx_int_t                       db;
    ngx_msec_t                      liveness;  /* no reply for this long: drop the connection */
    unsigned                        liveness_set:1;   /* given as liveness= */
    unsigned                        needs_wconn:1;    /* wxauth_login_replicas uses it */
    ngx_http_wxauth_redis_conn_t   *conn;      /* this worker's connection */
    ngx_http_wxauth_redis_conn_t   *wconn;     /* ... for logins that WAIT for replicas */
    ngx_http_wxauth_sentinel_t     *sentinel;  /* NULL: the fixed address above */
    ngx_http_wxauth_cluster_t      *cluster;   /* wxauth_redis_cluster: seeds, slot map */
    ngx_http_wxauth_redis_server_t *cluster_of;   /* a cluster node: its cluster's server */
    ngx_http_wxauth_tracking_t     *tracking;  /* session cache invalidations, or NULL */
};


/* outcome passed to a batch handler */
#define NGX_HTTP_WXAUTH_REDIS_OK        0   /* every reply arrived (each may be an error) */
#define NGX_HTTP_WXAUTH_REDIS_ERROR     1   /* connection failed or lost */
#define NGX_HTTP_WXAUTH_REDIS_TIMEOUT   2   /* the batch's timer fired first */

typedef void (*ngx_http_wxauth_redis_handler_pt)(void *data, ngx_uint_t outcome,
    const std::vector<wxauth::ReplyView> &replies);

typedef std::vector<std::string>  ngx_http_wxauth_redis_cmd_t;


/*
 * Queues the commands as one pipelined batch. Returns NULL when nothing could be queued (no
 * connection and not yet time to reconnect, out of memory): the caller answers at once.
 * A NULL handler makes a fire-and-forget batch.
 */
ngx_http_wxauth_redis_batch_t *ngx_http_wxauth_redis_send(
    ngx_http_wxauth_redis_server_t *server, ngx_msec_t timeout,
    const std::vector<ngx_http_wxauth_redis_cmd_t> &cmds,
    ngx_http_wxauth_redis_handler_pt handler, void *data) noexcept;

/*
 * A request's Redis round trip, the one asynchronous step every handler uses: sends the
 * commands as one batch with the location's timeout and parks the request. NGX_AGAIN: `done`
 * runs once the batch completed, failed or timed out (exceptions caught), then the posted
 * requests of the connection run. NGX_DECLINED: nothing was sent (Redis unreachable): the
 * caller answers store_unavailable at once.
 */
ngx_int_t ngx_http_wxauth_redis_step(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    const wxauth::RedisCommands &cmds, ngx_http_wxauth_step_done_pt done) noexcept;

/*
 * The step of a login with wxauth_login_replicas N: the commands go on the server's (or each
 * node's) second connection, and each connection that took one is sent `WAIT N timeout` after
 * them, so that no other request waits behind the WAIT. `done` gets the WAIT replies after the
 * commands' own, one per connection used (*waits tells how many). Without it, the same as
 * ngx_http_wxauth_redis_step.
 */
ngx_int_t ngx_http_wxauth_redis_step_replicated(ngx_http_request_t *r,
    ngx_http_wxauth_ctx_t *ctx, const wxauth::RedisCommands &cmds, size_t *waits,
    ngx_http_wxauth_step_done_pt done) noexcept;

/*
 * Called from a batch handler: whether a command of that batch was answered by another node
 * than the one it was sent to (Redis Cluster MOVED / ASK), i.e. not on the connection its
 * routing chose (the session cache does not store such a read: no tracked connection made it).
 */
bool ngx_http_wxauth_redis_redirected_now(void) noexcept;

/* The owner is going away: the handler will not be called. */
void ngx_http_wxauth_redis_detach(ngx_http_wxauth_redis_batch_t *batch) noexcept;

ngx_int_t ngx_http_wxauth_redis_init_worker(ngx_cycle_t *cycle, ngx_array_t *servers);
void ngx_http_wxauth_redis_exit_worker(ngx_array_t *servers);

/* A server's connection in this worker: made, and opened (failures retry in the background). */
ngx_int_t ngx_http_wxauth_redis_open(ngx_http_wxauth_redis_server_t *server, ngx_log_t *log);
/* ... and closed, for good (the worker exits). */
void ngx_http_wxauth_redis_close(ngx_http_wxauth_redis_server_t *server);
/* Whether a request's command may go to this server now (connecting counts; down does not). */
bool ngx_http_wxauth_redis_usable(ngx_http_wxauth_redis_server_t *server) noexcept;
/* Whether this server's connection answered its setup and is up. */
bool ngx_http_wxauth_redis_ready_now(ngx_http_wxauth_redis_server_t *server) noexcept;

/*
 * Sentinel mode: the sentinels named a (new) master at server->host:port: drop the connection
 * to the old one, connect to this one (ROLE confirms it before requests may use it).
 */
void ngx_http_wxauth_redis_follow(ngx_http_wxauth_redis_server_t *server);

/* The Redis nodes of every configured store as this worker sees them (wxauth_redis_node_info). */
void ngx_http_wxauth_redis_nodes(ngx_array_t *servers, std::vector<wxauth::RedisNodeInfo> &out);

/* Resolves and validates a `wxauth_redis` address at configuration time. */
char *ngx_http_wxauth_redis_parse(ngx_conf_t *cf, ngx_http_wxauth_redis_server_t *server,
    ngx_str_t *address);


#endif /* NGX_HTTP_WXAUTH_REDIS_H_INCLUDED_ */

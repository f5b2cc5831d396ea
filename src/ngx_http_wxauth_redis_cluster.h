/*
 * Redis Cluster (`wxauth_redis_cluster`): the slot map of each worker, learnt from the cluster
 * itself (CLUSTER SLOTS), and a connection per master it names. The Redis adapter routes every
 * command to the node that serves its key's slot (ngx_http_wxauth_cluster_route), follows
 * -MOVED and -ASK (ngx_http_wxauth_cluster_redirected), and tells when a node's connection is
 * lost (ngx_http_wxauth_cluster_node_lost). The map is read again on a MOVED and when a node
 * that serves slots is lost; while a node that serves slots cannot be reached, every 100 ms
 * until the cluster names a reachable one (a failover) -- never on each request.
 */

#ifndef NGX_HTTP_WXAUTH_REDIS_CLUSTER_H_INCLUDED_
#define NGX_HTTP_WXAUTH_REDIS_CLUSTER_H_INCLUDED_

#include "ngx_http_wxauth_redis.h"

#include <string_view>
#include <vector>

#include "core/cluster.h"


typedef struct ngx_http_wxauth_cluster_worker_s  ngx_http_wxauth_cluster_worker_t;

typedef struct {
    ngx_str_t                          name;   /* as configured, for logs */
    ngx_str_t                          host;   /* numeric address, NUL-terminated */
    ngx_int_t                          port;
} ngx_http_wxauth_cluster_seed_t;

struct ngx_http_wxauth_cluster_s {
    ngx_array_t                        seeds;  /* ngx_http_wxauth_cluster_seed_t */
    ngx_http_wxauth_cluster_worker_t  *worker; /* this worker's map and nodes */
};


/* wxauth_redis_cluster's seed addresses: resolved now, at configuration time */
char *ngx_http_wxauth_cluster_parse(ngx_conf_t *cf, ngx_http_wxauth_redis_server_t *server,
    ngx_str_t *addresses, ngx_uint_t naddresses);

ngx_int_t ngx_http_wxauth_cluster_init_worker(ngx_http_wxauth_redis_server_t *server,
    ngx_log_t *log);
void ngx_http_wxauth_cluster_exit_worker(ngx_http_wxauth_redis_server_t *server);

/*
 * The node that serves `key` (any master when the key is empty), or NULL when no node is known
 * for its slot yet (the map is being learnt or the slot is not served): the caller fails fast.
 */
ngx_http_wxauth_redis_server_t *ngx_http_wxauth_cluster_route(
    ngx_http_wxauth_redis_server_t *server, std::string_view key);

/*
 * A -MOVED (the map is updated, and read again) or -ASK: the node to send the command to, and
 * the redirect is counted. With `follow` false (the command is not sent again) only the map
 * learns from a MOVED, and NULL is returned.
 */
ngx_http_wxauth_redis_server_t *ngx_http_wxauth_cluster_redirected(
    ngx_http_wxauth_redis_server_t *server, const wxauth::ClusterReply &redirect, bool follow);

/* The masters and replicas of this worker's slot map (wxauth_redis_node_info). */
void ngx_http_wxauth_cluster_nodes(ngx_http_wxauth_redis_server_t *server,
    std::vector<wxauth::RedisNodeInfo> &out);

/* The connection to a node was lost (node->cluster_of is the cluster). */
void ngx_http_wxauth_cluster_node_lost(ngx_http_wxauth_redis_server_t *node);


#endif /* NGX_HTTP_WXAUTH_REDIS_CLUSTER_H_INCLUDED_ */

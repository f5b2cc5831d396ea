/*
 * Redis Cluster: each worker's slot map and its connections to the masters (see the header).
 *
 * A node of the map is an ngx_http_wxauth_redis_server_t of its own, made in the worker the
 * first time the map (or a redirect) names it, with the cluster's password and liveness; the
 * adapter (ngx_http_wxauth_redis.cpp) gives it one connection, opened, set up (AUTH, PING) and
 * probed like any other. Node numbers are the core's SlotMap numbers: they never change, so a
 * failover or a reshard only changes which number serves a slot.
 */

#include "ngx_http_wxauth_redis_cluster.h"

#include <new>
#include <string>
#include <vector>

#include "ngx_http_wxauth_cache.h"
#include "ngx_http_wxauth_metrics.h"


#define NGX_HTTP_WXAUTH_CLUSTER_REFRESH_TIMEOUT  1000   /* CLUSTER SLOTS' answer, ms */
#define NGX_HTTP_WXAUTH_CLUSTER_DEGRADED_POLL    100    /* a master is down: read again, ms */


struct ngx_http_wxauth_cluster_worker_s {
    wxauth::SlotMap                                map;
    std::vector<ngx_http_wxauth_redis_server_t *>  nodes;   /* by map number; NULL: not made */
    ngx_http_wxauth_redis_server_t                *server;  /* the cluster as configured */
    ngx_log_t                                     *log;
    ngx_event_t                                    refresh;
    ngx_http_wxauth_redis_batch_t                 *pending; /* the CLUSTER SLOTS in flight */
    std::uint16_t                                  asked;   /* ... and the node asked */
    size_t                                         next;    /* the node to ask next */
    bool                                           again;   /* read again once it answered */
    bool                                           known;   /* a map was learnt */
    bool                                           failure_logged;
    bool                                           exiting;
};


static void ngx_http_wxauth_cluster_schedule(ngx_http_wxauth_cluster_worker_t *w,
    ngx_msec_t delay);


/* the server of map node `n`, made (and its connection opened) the first time */
static ngx_http_wxauth_redis_server_t *
ngx_http_wxauth_cluster_node(ngx_http_wxauth_cluster_worker_t *w, std::uint16_t n)
{
    u_char                          *p;
    std::string                      name;
    ngx_http_wxauth_redis_server_t  *node, *server;

    if (n == wxauth::SlotMap::none || n >= w->map.node_count()) {
        return NULL;
    }

    if (w->nodes.size() < w->map.node_count()) {
        w->nodes.resize(w->map.node_count(), NULL);   /* may throw: callers catch */
    }

    if (w->nodes[n] != NULL) {
        return w->nodes[n];
    }

    server = w->server;
    const wxauth::NodeAddress &a = w->map.address(n);
    name = wxauth::to_string(a);

    node = static_cast<ngx_http_wxauth_redis_server_t *>(
               ngx_pcalloc(ngx_cycle->pool, sizeof(ngx_http_wxauth_redis_server_t)));
    if (node == NULL) {
        return NULL;
    }

    p = static_cast<u_char *>(ngx_pnalloc(ngx_cycle->pool, name.size() + a.host.size() + 1));
    if (p == NULL) {
        return NULL;
    }

    node->name.data = p;
    node->name.len = name.size();
    p = ngx_cpymem(p, name.data(), name.size());

    node->host.data = p;
    node->host.len = a.host.size();
    p = ngx_cpymem(p, a.host.data(), a.host.size());
    *p = '\0';

    node->port = a.port;
    node->password = server->password;
    node->liveness = server->liveness;
    node->liveness_set = server->liveness_set;
    node->needs_wconn = server->needs_wconn;
    node->cluster_of = server;

    if (ngx_http_wxauth_redis_open(node, w->log) != NGX_OK) {
        return NULL;
    }

    w->nodes[n] = node;

    return node;
}


/* the number of a node's server, or none */
static std::uint16_t
ngx_http_wxauth_cluster_number(ngx_http_wxauth_cluster_worker_t *w,
    ngx_http_wxauth_redis_server_t *node)
{
    for (size_t i = 0; i < w->nodes.size(); i++) {
        if (w->nodes[i] == node) {
            return (std::uint16_t) i;
        }
    }

    return wxauth::SlotMap::none;
}


/* a master the map names cannot be reached, or slots are not served: keep reading the map */
static bool
ngx_http_wxauth_cluster_degraded(ngx_http_wxauth_cluster_worker_t *w)
{
    if (!w->known || w->map.uncovered() > 0) {
        return true;
    }

    std::vector<size_t>  counts = w->map.slot_counts();

    for (size_t n = 0; n < counts.size(); n++) {
        if (counts[n] > 0 && (n >= w->nodes.size() || w->nodes[n] == NULL
                              || !ngx_http_wxauth_redis_usable(w->nodes[n])))
        {
            return true;
        }
    }

    return false;
}


static void
ngx_http_wxauth_cluster_slots_answered(void *data, ngx_uint_t outcome,
    const std::vector<wxauth::ReplyView> &replies)
{
    size_t                             changed, n;
    std::string                        error;
    std::vector<size_t>                before, after;
    std::vector<wxauth::SlotRange>     ranges;
    ngx_http_wxauth_cluster_worker_t  *w;

    w = static_cast<ngx_http_wxauth_cluster_worker_t *>(data);
    w->pending = NULL;

    if (w->exiting) {
        return;
    }

    const wxauth::NodeAddress  asked = w->map.address(w->asked);

    if (outcome != NGX_HTTP_WXAUTH_REDIS_OK) {
        /* the node did not answer (the adapter logged why): ask the next one */
        w->next++;
        ngx_http_wxauth_cluster_schedule(w, NGX_HTTP_WXAUTH_CLUSTER_DEGRADED_POLL);
        return;
    }

    if (replies.empty()
        || !wxauth::parse_cluster_slots(replies[0], asked.host, ranges, error)
        || ranges.empty())
    {
        if (error.empty()) {
            error = "the node serves no slots (is the cluster created?)";
        }

        if (!w->failure_logged) {
            ngx_log_error(NGX_LOG_ERR, w->log, 0,
                          "wxauth: redis cluster %V: no slot map from %s: %s",
                          &w->server->name, wxauth::to_string(asked).c_str(), error.c_str());
            w->failure_logged = true;
        }

        w->next++;
        ngx_http_wxauth_cluster_schedule(w, NGX_HTTP_WXAUTH_CLUSTER_DEGRADED_POLL);
        return;
    }

    before = w->map.slot_counts();
    changed = w->map.assign(ranges);
    after = w->map.slot_counts();

    ngx_http_wxauth_metric_inc(wxauth::Metric::redis_slot_map_refreshes);

    /* a node that served slots, serves none now and cannot be reached: a failover */
    for (n = 0; n < before.size(); n++) {
        if (before[n] > 0 && after[n] == 0
            && (n >= w->nodes.size() || w->nodes[n] == NULL
                || !ngx_http_wxauth_redis_ready_now(w->nodes[n])))
        {
            ngx_http_wxauth_metric_inc(wxauth::Metric::redis_failovers);
            ngx_log_error(NGX_LOG_WARN, w->log, 0,
                          "wxauth: redis cluster %V: the slots of %s are served by another "
                          "node now (failover)",
                          &w->server->name, wxauth::to_string(w->map.address(n)).c_str());
        }
    }

    if (changed && w->known) {
        /*
         * wxauth_session_cache: a cached session was tracked by the node that served its slot
         * then; writes on the new one are not announced to that tracking
         */
        ngx_http_wxauth_cache_flush();

        ngx_log_error(NGX_LOG_INFO, w->log, 0,
                      "wxauth: redis cluster %V: %uz slots changed node", &w->server->name,
                      changed);
    }

    if (w->failure_logged || !w->known) {
        ngx_log_error(NGX_LOG_NOTICE, w->log, 0,
                      "wxauth: redis cluster %V: slot map read from %s, %uz slots served",
                      &w->server->name, wxauth::to_string(asked).c_str(),
                      (size_t) wxauth::cluster_slots - w->map.uncovered());
        w->failure_logged = false;
    }

    w->known = true;

    /* connect to every master now: the first request for its slots finds the connection up */
    for (n = 0; n < after.size(); n++) {
        if (after[n] > 0 && (n >= w->nodes.size() || w->nodes[n] == NULL)) {
            (void) ngx_http_wxauth_cluster_node(w, (std::uint16_t) n);
        }
    }

    if (w->again) {
        ngx_http_wxauth_cluster_schedule(w, 0);

    } else if (ngx_http_wxauth_cluster_degraded(w)) {
        ngx_http_wxauth_cluster_schedule(w, NGX_HTTP_WXAUTH_CLUSTER_DEGRADED_POLL);
    }
}


/* asks one node for the slot map: a reachable one first, the next in turn otherwise */
static void
ngx_http_wxauth_cluster_read_map(ngx_http_wxauth_cluster_worker_t *w)
{
    size_t                           i, count, n;
    ngx_http_wxauth_redis_server_t  *node;

    if (w->pending != NULL || w->exiting) {
        w->again = w->pending != NULL;
        return;
    }

    w->again = false;
    count = w->map.node_count();
    node = NULL;
    n = 0;

    for (int pass = 0; pass < 2 && node == NULL; pass++) {
        for (i = 0; i < count; i++) {
            n = (w->next + i) % count;

            if (pass == 0) {
                /* a node with a live connection answers at once */
                if (n < w->nodes.size() && w->nodes[n] != NULL
                    && ngx_http_wxauth_redis_ready_now(w->nodes[n]))
                {
                    node = w->nodes[n];
                    break;
                }

                continue;
            }

            node = ngx_http_wxauth_cluster_node(w, (std::uint16_t) n);

            if (node != NULL && ngx_http_wxauth_redis_usable(node)) {
                break;
            }

            node = NULL;
        }
    }

    if (node != NULL) {
        w->pending = ngx_http_wxauth_redis_send(node, NGX_HTTP_WXAUTH_CLUSTER_REFRESH_TIMEOUT,
                                                {{"CLUSTER", "SLOTS"}},
                                                ngx_http_wxauth_cluster_slots_answered, w);
    }

    if (w->pending == NULL) {
        /* nothing reachable now: the probes reconnect, ask again soon */
        w->next++;
        ngx_http_wxauth_cluster_schedule(w, NGX_HTTP_WXAUTH_CLUSTER_DEGRADED_POLL);
        return;
    }

    w->asked = (std::uint16_t) n;
    w->next = n;
}


static void
ngx_http_wxauth_cluster_refresh_handler(ngx_event_t *ev)
{
    ngx_http_wxauth_cluster_worker_t  *w;

    w = static_cast<ngx_http_wxauth_cluster_worker_t *>(ev->data);

    try {
        ngx_http_wxauth_cluster_read_map(w);

    } catch (...) {
        ngx_log_error(NGX_LOG_ALERT, w->log, 0,
                      "wxauth: exception while reading the redis cluster's slot map");
        ngx_http_wxauth_cluster_schedule(w, NGX_HTTP_WXAUTH_CLUSTER_DEGRADED_POLL);
    }
}


/* read the map in `delay` ms (0: in this iteration of the event loop), once at a time */
static void
ngx_http_wxauth_cluster_schedule(ngx_http_wxauth_cluster_worker_t *w, ngx_msec_t delay)
{
    if (w->exiting) {
        return;
    }

    if (w->pending != NULL) {
        if (delay == 0) {
            w->again = true;
        }

        return;
    }

    if (w->refresh.timer_set) {
        if (delay != 0) {
            return;   /* one is due already */
        }

        ngx_del_timer(&w->refresh);
    }

    ngx_add_timer(&w->refresh, delay ? delay : 1);
}


ngx_http_wxauth_redis_server_t *
ngx_http_wxauth_cluster_route(ngx_http_wxauth_redis_server_t *server, std::string_view key)
{
    std::uint16_t                      n;
    ngx_http_wxauth_cluster_worker_t  *w;

    w = server->cluster->worker;

    if (w == NULL || !w->known) {
        return NULL;
    }

    if (key.empty()) {
        n = w->map.owner(0);

    } else {
        n = w->map.owner(wxauth::key_slot(key));
    }

    if (n == wxauth::SlotMap::none) {
        ngx_http_wxauth_cluster_schedule(w, NGX_HTTP_WXAUTH_CLUSTER_DEGRADED_POLL);
        return NULL;
    }

    return ngx_http_wxauth_cluster_node(w, n);
}


ngx_http_wxauth_redis_server_t *
ngx_http_wxauth_cluster_redirected(ngx_http_wxauth_redis_server_t *server,
    const wxauth::ClusterReply &redirect, bool follow)
{
    std::string                        error;
    std::uint16_t                      n;
    wxauth::NodeAddress                to;
    ngx_http_wxauth_cluster_worker_t  *w;

    w = server->cluster->worker;

    if (w == NULL || w->exiting) {
        return NULL;
    }

    /* a worker never resolves a name: only a numeric address is followed */
    if (!wxauth::parse_node_address(redirect.host, std::to_string(redirect.port), to, error)) {
        if (!w->failure_logged) {
            /* said once until a slot map is read again: it would repeat on every request */
            ngx_log_error(NGX_LOG_ERR, w->log, 0,
                          "wxauth: redis cluster %V redirected to an unusable address: %s",
                          &server->name, error.c_str());
            w->failure_logged = true;
        }

        return NULL;
    }

    n = w->map.intern(to);

    if (n == wxauth::SlotMap::none) {
        return NULL;
    }

    if (redirect.kind == wxauth::ClusterReply::Kind::moved) {
        /* the slot lives there now: route there at once, and read the whole map again */
        if (follow) {
            ngx_http_wxauth_metric_inc(wxauth::Metric::redis_redirects_moved);
        }

        if (w->map.owner(redirect.slot) != n) {
            ngx_http_wxauth_cache_flush();   /* as when the map changes (above) */
        }

        w->map.move(redirect.slot, n);
        ngx_http_wxauth_cluster_schedule(w, 0);

    } else if (follow) {
        ngx_http_wxauth_metric_inc(wxauth::Metric::redis_redirects_ask);
    }

    return follow ? ngx_http_wxauth_cluster_node(w, n) : NULL;
}


void
ngx_http_wxauth_cluster_nodes(ngx_http_wxauth_redis_server_t *server,
    std::vector<wxauth::RedisNodeInfo> &out)
{
    std::vector<size_t>                master;
    wxauth::RedisNodeInfo              info;
    ngx_http_wxauth_cluster_worker_t  *w;

    w = server->cluster->worker;

    if (w == NULL || !w->known) {
        return;
    }

    master = w->map.slot_counts();   /* a master serves slots */

    info.redis.assign((const char *) server->name.data, server->name.len);

    for (size_t n = 0; n < master.size(); n++) {
        if (!master[n]) {
            continue;
        }

        info.address = wxauth::to_string(w->map.address((std::uint16_t) n));
        info.role = "master";
        info.connected = n < w->nodes.size() && w->nodes[n] != NULL
                         && ngx_http_wxauth_redis_ready_now(w->nodes[n]);
        out.push_back(info);

        for (std::uint16_t r : w->map.replicas()[n]) {
            info.address = wxauth::to_string(w->map.address(r));
            info.role = "replica";
            info.connected = false;   /* the module reads and writes masters only */
            out.push_back(info);
        }
    }
}


void
ngx_http_wxauth_cluster_node_lost(ngx_http_wxauth_redis_server_t *node)
{
    std::uint16_t                      n;
    ngx_http_wxauth_cluster_worker_t  *w;

    w = node->cluster_of->cluster->worker;

    if (w == NULL || w->exiting) {
        return;
    }

    n = ngx_http_wxauth_cluster_number(w, node);

    if (n != wxauth::SlotMap::none && w->map.slots_of(n) > 0) {
        /* a master went away: has a replica taken over? */
        ngx_http_wxauth_cluster_schedule(w, 0);
    }
}


ngx_int_t
ngx_http_wxauth_cluster_init_worker(ngx_http_wxauth_redis_server_t *server, ngx_log_t *log)
{
    ngx_uint_t                         i;
    ngx_http_wxauth_cluster_seed_t    *seed;
    ngx_http_wxauth_cluster_worker_t  *w;

    w = new (std::nothrow) ngx_http_wxauth_cluster_worker_t();
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->server = server;
    w->log = log;
    ngx_http_wxauth_background_timer(&w->refresh, ngx_http_wxauth_cluster_refresh_handler, w,
                                     log);

    server->cluster->worker = w;

    seed = static_cast<ngx_http_wxauth_cluster_seed_t *>(server->cluster->seeds.elts);

    try {
        for (i = 0; i < server->cluster->seeds.nelts; i++) {
            wxauth::NodeAddress  a;

            a.host.assign((const char *) seed[i].host.data, seed[i].host.len);
            a.port = (int) seed[i].port;
            (void) w->map.intern(a);
        }

    } catch (...) {
        return NGX_ERROR;
    }

    /* the seeds' connections open as the map is asked for, from the first seed on */
    ngx_http_wxauth_cluster_schedule(w, 0);

    return NGX_OK;
}


void
ngx_http_wxauth_cluster_exit_worker(ngx_http_wxauth_redis_server_t *server)
{
    ngx_http_wxauth_cluster_worker_t  *w;

    w = server->cluster->worker;

    if (w == NULL) {
        return;
    }

    w->exiting = true;

    if (w->refresh.timer_set) {
        ngx_del_timer(&w->refresh);
    }

    if (w->pending != NULL) {
        ngx_http_wxauth_redis_detach(w->pending);
        w->pending = NULL;
    }

    for (ngx_http_wxauth_redis_server_t *node : w->nodes) {
        if (node != NULL) {
            ngx_http_wxauth_redis_close(node);
        }
    }

    server->cluster->worker = NULL;
    delete w;
}


char *
ngx_http_wxauth_cluster_parse(ngx_conf_t *cf, ngx_http_wxauth_redis_server_t *server,
    ngx_str_t *addresses, ngx_uint_t naddresses)
{
    u_char                          *p;
    ngx_uint_t                       i;
    ngx_http_wxauth_cluster_t       *cluster;
    ngx_http_wxauth_cluster_seed_t  *seed;
    ngx_http_wxauth_redis_server_t   resolved;

    cluster = static_cast<ngx_http_wxauth_cluster_t *>(
                  ngx_pcalloc(cf->pool, sizeof(ngx_http_wxauth_cluster_t)));
    if (cluster == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (ngx_array_init(&cluster->seeds, cf->pool, naddresses,
                       sizeof(ngx_http_wxauth_cluster_seed_t))
        != NGX_OK)
    {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    for (i = 0; i < naddresses; i++) {
        if (addresses[i].len >= 5 && ngx_strncmp(addresses[i].data, "unix:", 5) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid cluster node address \"%V\": "
                               "a cluster node is host[:port]", &addresses[i]);
            return static_cast<char *>(NGX_CONF_ERROR);
        }

        /* resolved now, in the master (the same rules as wxauth_redis) */
        ngx_memzero(&resolved, sizeof(ngx_http_wxauth_redis_server_t));

        if (ngx_http_wxauth_redis_parse(cf, &resolved, &addresses[i]) != NGX_CONF_OK) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }

        seed = static_cast<ngx_http_wxauth_cluster_seed_t *>(ngx_array_push(&cluster->seeds));
        if (seed == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }

        seed->name = addresses[i];
        seed->host = resolved.host;
        seed->port = resolved.port;
    }

    /* the name in log lines: the seeds as configured */
    server->name.len = 0;

    for (i = 0; i < naddresses; i++) {
        server->name.len += addresses[i].len + 1;
    }

    p = static_cast<u_char *>(ngx_pnalloc(cf->pool, server->name.len));
    if (p == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    server->name.data = p;

    for (i = 0; i < naddresses; i++) {
        if (i > 0) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, addresses[i].data, addresses[i].len);
    }

    server->name.len = p - server->name.data;
    server->cluster = cluster;

    return NGX_CONF_OK;
}

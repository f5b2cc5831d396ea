/*
 * Server-assisted invalidation for the session cache (Redis client-side caching, RESP2):
 * per worker and per Redis server, a connection of its own that runs
 *     [AUTH password]  CLIENT ID  SUBSCRIBE __redis__:invalidate
 * after which the data connection gets `CLIENT TRACKING ON REDIRECT <that id>`: from then on
 * every change to a key the data connection read (a logout's DEL, a renewal's EXPIRE, the
 * single-session script, an expiry, an eviction, a DEL from redis-cli) is announced here, and
 * its cache entry is dropped from every cache zone. A nil message (FLUSHDB/FLUSHALL) drops all.
 *
 * The cache is trusted for a server only while both hold: subscribed here, and the data
 * connection's CLIENT TRACKING answered OK in its current incarnation. Every change of either
 * (lost, made) flushes the cache zones (invalidations may have been missed) and the
 * invalidation log, so that no lookup sent before the change is stored after it.
 *
 * The connection is reopened in the background like the data connection: at once after it
 * closes, every 100 ms while Redis cannot be reached; nothing here ever blocks.
 */

#include "ngx_http_wxauth_tracking.h"
#include "ngx_http_wxauth_redis_sentinel.h"

#include <new>

#include "ngx_http_wxauth_cache.h"
#include "ngx_http_wxauth_hiredis.h"
#include "ngx_http_wxauth_metrics.h"
#include "ngx_http_wxauth_redis.h"

#include "core/session_cache.h"


#define NGX_HTTP_WXAUTH_TRACKING_PROBE_INTERVAL  100
#define NGX_HTTP_WXAUTH_TRACKING_HEARTBEAT       1000   /* ms between two heartbeats */
#define NGX_HTTP_WXAUTH_TRACKING_SILENCE         3000   /* no answer for this long: dead */


struct ngx_http_wxauth_tracking_s {
    ngx_http_wxauth_hiredis_t         h;            /* first: the hooks' privdata */
    ngx_http_wxauth_redis_server_t   *server;
    ngx_str_t                         identity;     /* of the data set: the cache keys' */
    ngx_log_t                        *log;
    wxauth::InvalidationLog           ilog;
    long long                         client_id;    /* of this connection, 0: unknown */
    ngx_uint_t                        epoch;        /* changes with either connection */
    ngx_uint_t                        tracking_epoch;   /* of the CLIENT TRACKING sent */
    u_char                            peer[NGX_SOCKADDR_STRLEN + 1];  /* connected to */
    ngx_int_t                         peer_port;
    ngx_event_t                       probe;
    ngx_event_t                       heartbeat;    /* runs while subscribed */
    ngx_msec_t                        heard;        /* the last answer of this connection */
    unsigned                          started:1;
    unsigned                          subscribed:1;
    unsigned                          data_ready:1;
    unsigned                          tracking_on:1;
    unsigned                          tracking_retry:1;   /* CLIENT TRACKING unanswered */
    unsigned                          moving:1;     /* to the master the sentinels named */
    unsigned                          was_subscribed:1;  /* this connection got that far */
    unsigned                          failure_logged:1;
    unsigned                          exiting:1;
};


static ngx_int_t ngx_http_wxauth_tracking_connect(ngx_http_wxauth_tracking_t *t);


/* something changed that may have cost invalidations: nothing known so far is trusted */
static void
ngx_http_wxauth_tracking_distrust(ngx_http_wxauth_tracking_t *t)
{
    t->ilog.flush();
    ngx_http_wxauth_cache_flush();
}


ngx_int_t
ngx_http_wxauth_tracking_add(ngx_pool_t *pool, ngx_http_wxauth_redis_server_t *server,
    ngx_str_t *identity)
{
    u_char                      *p;
    ngx_http_wxauth_tracking_t  *t;

    if (server->tracking != NULL) {
        return NGX_OK;
    }

    t = static_cast<ngx_http_wxauth_tracking_t *>(
            ngx_pcalloc(pool, sizeof(ngx_http_wxauth_tracking_t)));
    if (t == NULL) {
        return NGX_ERROR;
    }

    new (&t->ilog) wxauth::InvalidationLog();

    t->server = server;

    if (identity != NULL) {
        t->identity = *identity;

    } else {
        /*
         * The data set: the address as configured (or the sentinel master's name, which is
         * what server->name holds at configuration time, with the sentinels' addresses: two
         * Sentinel groups may both call their master "mymaster") and the db
         */
        size_t                            len;
        ngx_uint_t                        i, naddrs;
        ngx_http_wxauth_sentinel_addr_t  *addrs;

        len = sizeof("sentinel  db=") - 1 + server->name.len + NGX_INT_T_LEN;
        naddrs = 0;
        addrs = NULL;

        if (server->sentinel != NULL) {
            addrs = static_cast<ngx_http_wxauth_sentinel_addr_t *>(
                        server->sentinel->addrs.elts);
            naddrs = server->sentinel->addrs.nelts;

            for (i = 0; i < naddrs; i++) {
                len += sizeof(" :") - 1 + addrs[i].host.len + NGX_INT_T_LEN;
            }
        }

        p = static_cast<u_char *>(ngx_pnalloc(pool, len));
        if (p == NULL) {
            return NGX_ERROR;
        }

        t->identity.data = p;
        p = ngx_sprintf(p, "%s %V db=%i",
                        server->sentinel ? "sentinel" : server->cluster ? "cluster" : "redis",
                        &server->name, server->db);

        for (i = 0; i < naddrs; i++) {
            p = ngx_sprintf(p, " %V:%i", &addrs[i].host, addrs[i].port);
        }

        t->identity.len = p - t->identity.data;
    }

    server->tracking = t;

    return NGX_OK;
}


/* ---- the data connection ------------------------------------------------------------------- */

static void
ngx_http_wxauth_tracking_on_reply(void *data, ngx_uint_t outcome,
    const std::vector<wxauth::ReplyView> &replies)
{
    ngx_http_wxauth_tracking_t  *t = static_cast<ngx_http_wxauth_tracking_t *>(data);

    if (t->exiting || t->epoch != t->tracking_epoch) {
        return;   /* for a connection (of either kind) that is gone by now */
    }

    if (outcome == NGX_HTTP_WXAUTH_REDIS_OK && !replies.empty()
        && replies[0].outcome == wxauth::ReplyOutcome::ok)
    {
        t->tracking_on = 1;
        ngx_http_wxauth_tracking_distrust(t);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, t->log, 0,
                       "wxauth: session cache: redis %V tracks for client %L",
                       &t->server->name, t->client_id);
        return;
    }

    if (outcome != NGX_HTTP_WXAUTH_REDIS_OK) {
        /*
         * Not answered in time, or the batch failed while both connections stayed up: the
         * heartbeat asks again (a late +OK of this one is not counted, its batch is over)
         */
        t->tracking_retry = 1;
        return;
    }

    if (!replies.empty()) {
        /* Redis's own message (e.g. an older Redis without CLIENT TRACKING) */
        ngx_log_error(NGX_LOG_WARN, t->log, 0,
                      "wxauth: redis %V refused CLIENT TRACKING: %*s; the session cache is "
                      "not used with it", &t->server->name,
                      ngx_min(replies[0].text.size(), (size_t) 256), replies[0].text.data());
    }
}


/* both connections are up: the data connection's reads are announced to this one */
static void
ngx_http_wxauth_tracking_enable(ngx_http_wxauth_tracking_t *t)
{
    u_char                                    id[NGX_INT64_LEN];
    std::vector<ngx_http_wxauth_redis_cmd_t>  cmds;

    if (!t->subscribed || !t->data_ready || t->client_id <= 0 || t->exiting) {
        return;
    }

    try {
        cmds.push_back({"CLIENT", "TRACKING", "ON", "REDIRECT",
                        std::string((const char *) id,
                                    ngx_sprintf(id, "%L", (int64_t) t->client_id) - id)});
    } catch (...) {
        return;
    }

    t->tracking_epoch = t->epoch;

    (void) ngx_http_wxauth_redis_send(t->server,
                                      t->server->liveness ? t->server->liveness : 1000, cmds,
                                      ngx_http_wxauth_tracking_on_reply, t);
}


void
ngx_http_wxauth_tracking_data_ready(ngx_http_wxauth_redis_server_t *server)
{
    ngx_http_wxauth_tracking_t  *t = server->tracking;

    if (t == NULL || !t->started || t->exiting) {
        return;
    }

    t->data_ready = 1;
    t->tracking_on = 0;
    t->epoch++;
    ngx_http_wxauth_tracking_distrust(t);

    /* sentinel: the data connection moved to another master; this one must follow */
    if (t->h.ac != NULL && server->path.len == 0
        && (server->port != t->peer_port
            || ngx_strcmp(t->peer, server->host.data) != 0))
    {
        t->moving = 1;             /* expected: not a loss to warn about */
        redisAsyncFree(t->h.ac);   /* the gone hook reconnects, to the new address */
        return;
    }

    if (t->h.ac == NULL) {
        if (t->probe.timer_set) {
            ngx_del_timer(&t->probe);
        }

        if (ngx_http_wxauth_tracking_connect(t) != NGX_OK) {
            ngx_add_timer(&t->probe, NGX_HTTP_WXAUTH_TRACKING_PROBE_INTERVAL);
        }

        return;
    }

    ngx_http_wxauth_tracking_enable(t);
}


void
ngx_http_wxauth_tracking_data_gone(ngx_http_wxauth_redis_server_t *server)
{
    ngx_http_wxauth_tracking_t  *t = server->tracking;

    if (t == NULL || !t->started) {
        return;
    }

    /* the keys it read are no longer tracked: what the zones hold may go stale unannounced */
    t->data_ready = 0;
    t->tracking_on = 0;
    t->epoch++;
    ngx_http_wxauth_tracking_distrust(t);
}


/* ---- the invalidation connection ----------------------------------------------------------- */

static void ngx_http_wxauth_tracking_message(redisAsyncContext *ac, void *reply,
    void *privdata);


/*
 * A connection that went silent without a close (a peer or a path that vanished) would lose
 * invalidations unnoticed while cached sessions are served: while subscribed, the
 * subscription is asked again every second (Redis confirms it like the first one, and that
 * is all it does) and the connection is dropped, the zones flushed, when nothing came back for
 * three seconds.
 */
static void
ngx_http_wxauth_tracking_heartbeat(ngx_event_t *ev)
{
    const char                  *argv[2];
    size_t                       argvlen[2];
    ngx_http_wxauth_tracking_t  *t = static_cast<ngx_http_wxauth_tracking_t *>(ev->data);

    if (t->exiting || t->h.ac == NULL || !t->subscribed) {
        return;
    }

    if (ngx_current_msec - t->heard > NGX_HTTP_WXAUTH_TRACKING_SILENCE) {
        ngx_log_error(NGX_LOG_WARN, t->log, 0,
                      "wxauth: the invalidation connection to redis %V stopped answering, "
                      "dropping it", &t->server->name);
        redisAsyncFree(t->h.ac);   /* the gone hook flushes and reconnects */
        return;
    }

    if (t->tracking_retry && !t->tracking_on && t->epoch == t->tracking_epoch) {
        t->tracking_retry = 0;
        ngx_http_wxauth_tracking_enable(t);
    }

    argv[0] = "SUBSCRIBE";
    argvlen[0] = 9;
    argv[1] = wxauth::invalidation_channel.data();
    argvlen[1] = wxauth::invalidation_channel.size();
    (void) redisAsyncCommandArgv(t->h.ac, ngx_http_wxauth_tracking_message, t, 2, argv,
                                 argvlen);

    ngx_add_timer(&t->heartbeat, NGX_HTTP_WXAUTH_TRACKING_HEARTBEAT);
}


static void
ngx_http_wxauth_tracking_message(redisAsyncContext *ac, void *reply, void *privdata)
{
    ngx_http_wxauth_tracking_t  *t = static_cast<ngx_http_wxauth_tracking_t *>(privdata);

    (void) ac;

    if (reply == NULL || t->exiting) {
        return;
    }

    t->heard = ngx_current_msec;

    try {
        wxauth::Invalidation inv = wxauth::parse_invalidation(
                                       wxauth::inspect_reply(static_cast<redisReply *>(reply)));

        switch (inv.kind) {

        case wxauth::Invalidation::Kind::subscribed:
            if (t->subscribed) {
                break;
            }

            t->subscribed = 1;
            t->was_subscribed = 1;
            t->epoch++;
            ngx_http_wxauth_tracking_distrust(t);

            if (!t->heartbeat.timer_set) {
                ngx_add_timer(&t->heartbeat, NGX_HTTP_WXAUTH_TRACKING_HEARTBEAT);
            }

            if (t->failure_logged) {
                ngx_log_error(NGX_LOG_NOTICE, t->log, 0,
                              "wxauth: invalidations from redis %V are received again, the "
                              "session cache is used again", &t->server->name);
                t->failure_logged = 0;
            }

            ngx_http_wxauth_tracking_enable(t);
            break;

        case wxauth::Invalidation::Kind::keys:
            for (const std::string &key : inv.keys) {
                std::string digest = wxauth::cache_key_digest(ngx_http_wxauth_sv(t->identity),
                                                              key);
                t->ilog.record(wxauth::digest_hash64(digest));
                (void) ngx_http_wxauth_cache_remove(digest);
            }

            ngx_http_wxauth_metric_add(wxauth::Metric::cache_invalidations,
                                       (ngx_atomic_int_t) inv.keys.size());
            break;

        case wxauth::Invalidation::Kind::flush_all:
            ngx_http_wxauth_tracking_distrust(t);
            ngx_http_wxauth_metric_inc(wxauth::Metric::cache_invalidations);
            break;

        default:
            break;
        }

    } catch (...) {
        /* a message we could not read may have named a cached key */
        ngx_log_error(NGX_LOG_ALERT, t->log, 0,
                      "wxauth: could not read an invalidation message, session cache flushed");
        ngx_http_wxauth_tracking_distrust(t);
    }
}


static void
ngx_http_wxauth_tracking_setup_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    redisReply                  *r = static_cast<redisReply *>(reply);
    ngx_http_wxauth_tracking_t  *t = static_cast<ngx_http_wxauth_tracking_t *>(privdata);

    if (r == NULL) {
        return;
    }

    if (r->type == REDIS_REPLY_ERROR) {
        /* Redis's own message (WRONGPASS ...): never the password */
        if (!t->failure_logged) {
            ngx_log_error(NGX_LOG_WARN, t->log, 0,
                          "wxauth: redis %V refused the invalidation connection: %*s; the "
                          "session cache is not used until it is accepted",
                          &t->server->name, (size_t) ngx_min(r->len, 256), r->str);
            t->failure_logged = 1;
        }

        redisAsyncFree(ac);   /* deferred by hiredis until this callback returns */
        return;
    }

    if (r->type == REDIS_REPLY_INTEGER) {
        t->client_id = r->integer;   /* CLIENT ID */
    }
}


static void
ngx_http_wxauth_tracking_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_wxauth_tracking_t  *t = static_cast<ngx_http_wxauth_tracking_t *>(ac->data);

    if (status != REDIS_OK) {
        if (!t->failure_logged && !t->exiting) {
            ngx_log_error(NGX_LOG_WARN, t->log, 0,
                          "wxauth: could not open the invalidation connection to redis %V: "
                          "%s; the session cache is not used until it is open",
                          &t->server->name, ac->errstr ? ac->errstr : "unknown error");
            t->failure_logged = 1;
        }

        return;   /* hiredis frees the context; the gone hook probes again */
    }

    ngx_http_wxauth_hiredis_add_write(&t->h);
}


static void
ngx_http_wxauth_tracking_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_wxauth_tracking_t  *t = static_cast<ngx_http_wxauth_tracking_t *>(ac->data);

    /*
     * A connection that never got subscribed and was closed with an error: e.g. SUBSCRIBE
     * refused (-NOPERM of an ACL user without channel rights), which hiredis takes as an error
     * of the connection. Said once: it is tried again every 100 ms.
     */
    if (t != NULL && status != REDIS_OK && !t->was_subscribed && !t->exiting
        && !t->failure_logged)
    {
        ngx_log_error(NGX_LOG_WARN, t->log, 0,
                      "wxauth: the invalidation connection to redis %V failed: %s; the "
                      "session cache is not used with it until it works",
                      &t->server->name, ac->errstr[0] ? ac->errstr : "connection closed");
        t->failure_logged = 1;
    }
}


static void
ngx_http_wxauth_tracking_gone(ngx_http_wxauth_hiredis_t *h)
{
    ngx_uint_t                   was;
    ngx_http_wxauth_tracking_t  *t = reinterpret_cast<ngx_http_wxauth_tracking_t *>(h);

    was = t->was_subscribed;

    t->subscribed = 0;
    t->was_subscribed = 0;
    t->tracking_on = 0;
    t->client_id = 0;
    t->epoch++;

    if (t->heartbeat.timer_set) {
        ngx_del_timer(&t->heartbeat);
    }

    /* invalidations sent from now on reach nobody: flush, and trust nothing until back */
    ngx_http_wxauth_tracking_distrust(t);

    if (t->exiting) {
        return;
    }

    if (t->moving) {
        t->moving = 0;
        ngx_log_error(NGX_LOG_INFO, t->log, 0,
                      "wxauth: the invalidation connection follows redis %V to its new master",
                      &t->server->name);

    } else if (was && !t->failure_logged) {
        ngx_log_error(NGX_LOG_WARN, t->log, 0,
                      "wxauth: lost the invalidation connection to redis %V; the session "
                      "cache is not used until it is back", &t->server->name);
        t->failure_logged = 1;
    }

    /* at once after a working connection closed; every 100 ms while it cannot be made */
    ngx_add_timer(&t->probe, was ? 1 : NGX_HTTP_WXAUTH_TRACKING_PROBE_INTERVAL);
}


static void
ngx_http_wxauth_tracking_probe(ngx_event_t *ev)
{
    ngx_http_wxauth_tracking_t  *t = static_cast<ngx_http_wxauth_tracking_t *>(ev->data);

    if (t->exiting || t->h.ac != NULL) {
        return;
    }

    if (ngx_http_wxauth_tracking_connect(t) != NGX_OK && !t->exiting) {
        ngx_add_timer(&t->probe, NGX_HTTP_WXAUTH_TRACKING_PROBE_INTERVAL);
    }
}


static ngx_int_t
ngx_http_wxauth_tracking_connect(ngx_http_wxauth_tracking_t *t)
{
    const char                      *argv[3];
    size_t                           argvlen[3];
    redisAsyncContext               *ac;
    ngx_http_wxauth_redis_server_t  *server;

    server = t->server;

    if (server->path.len) {
        ac = redisAsyncConnectUnix((const char *) server->path.data);
        t->peer[0] = '\0';
        t->peer_port = 0;

    } else if (server->host.len == 0 || server->host.len > NGX_SOCKADDR_STRLEN) {
        /* sentinel: the master is not known yet; the data connection's ready hook calls */
        return NGX_DECLINED;

    } else {
        /* a numeric address (resolved at configuration time, or named by a sentinel) */
        ac = redisAsyncConnect((const char *) server->host.data, (int) server->port);
        ngx_memcpy(t->peer, server->host.data, server->host.len);
        t->peer[server->host.len] = '\0';
        t->peer_port = server->port;
    }

    if (ac == NULL) {
        return NGX_ERROR;
    }

    if (ac->err) {
        if (!t->failure_logged) {
            ngx_log_error(NGX_LOG_WARN, t->log, 0,
                          "wxauth: could not open the invalidation connection to redis %V: "
                          "%s; the session cache is not used until it is open",
                          &server->name, ac->errstr);
            t->failure_logged = 1;
        }

        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    if (ngx_http_wxauth_hiredis_attach(&t->h, ac) != NGX_OK) {
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    ac->data = t;
    t->client_id = 0;
    t->subscribed = 0;
    t->was_subscribed = 0;

    redisAsyncSetConnectCallback(ac, ngx_http_wxauth_tracking_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_http_wxauth_tracking_disconnected);

    if (server->password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (const char *) server->password.data;
        argvlen[1] = server->password.len;
        redisAsyncCommandArgv(ac, ngx_http_wxauth_tracking_setup_reply, t, 2, argv, argvlen);
    }

    argv[0] = "CLIENT";
    argvlen[0] = 6;
    argv[1] = "ID";
    argvlen[1] = 2;
    redisAsyncCommandArgv(ac, ngx_http_wxauth_tracking_setup_reply, t, 2, argv, argvlen);

    if (t->tracking_retry && !t->tracking_on && t->epoch == t->tracking_epoch) {
        t->tracking_retry = 0;
        ngx_http_wxauth_tracking_enable(t);
    }

    argv[0] = "SUBSCRIBE";
    argvlen[0] = 9;
    argv[1] = wxauth::invalidation_channel.data();
    argvlen[1] = wxauth::invalidation_channel.size();
    redisAsyncCommandArgv(ac, ngx_http_wxauth_tracking_message, t, 2, argv, argvlen);

    return NGX_OK;
}


/* ---- life in a worker ---------------------------------------------------------------------- */

ngx_int_t
ngx_http_wxauth_tracking_open(ngx_http_wxauth_redis_server_t *server, ngx_log_t *log)
{
    ngx_http_wxauth_tracking_t  *t;

    if (server->tracking == NULL && server->cluster_of != NULL
        && server->cluster_of->tracking != NULL)
    {
        /* a cluster node: tracked like any server, its keys named as the cluster's */
        if (ngx_http_wxauth_tracking_add(ngx_cycle->pool, server,
                                         &server->cluster_of->tracking->identity)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    t = server->tracking;

    if (t == NULL || t->started || server->cluster != NULL) {
        return NGX_OK;   /* a cluster's own server has no connection: its nodes have */
    }

    t->log = log;
    t->h.log = log;
    t->h.kind = "redis invalidation connection";
    t->h.name = &server->name;
    t->h.gone = ngx_http_wxauth_tracking_gone;

    ngx_http_wxauth_background_timer(&t->probe, ngx_http_wxauth_tracking_probe, t, log);
    ngx_http_wxauth_background_timer(&t->heartbeat, ngx_http_wxauth_tracking_heartbeat, t, log);

    t->started = 1;

    if (ngx_http_wxauth_tracking_connect(t) == NGX_ERROR) {
        ngx_add_timer(&t->probe, NGX_HTTP_WXAUTH_TRACKING_PROBE_INTERVAL);
    }

    return NGX_OK;
}


void
ngx_http_wxauth_tracking_close(ngx_http_wxauth_redis_server_t *server)
{
    ngx_http_wxauth_tracking_t  *t = server->tracking;

    if (t == NULL || !t->started || t->exiting) {
        return;
    }

    t->exiting = 1;

    if (t->probe.timer_set) {
        ngx_del_timer(&t->probe);
    }

    if (t->heartbeat.timer_set) {
        ngx_del_timer(&t->heartbeat);
    }

    if (t->h.ac != NULL) {
        redisAsyncFree(t->h.ac);   /* the gone hook flushes: nobody tracks this worker's reads */
    }
}


/* ---- for the cache ------------------------------------------------------------------------- */

bool
ngx_http_wxauth_tracking_trusted(ngx_http_wxauth_redis_server_t *server)
{
    ngx_http_wxauth_tracking_t  *t = server->tracking;

    return t != NULL && t->subscribed && t->tracking_on && t->data_ready && !t->exiting;
}


uint64_t
ngx_http_wxauth_tracking_mark(ngx_http_wxauth_redis_server_t *server)
{
    return server->tracking ? server->tracking->ilog.mark() : 0;
}


bool
ngx_http_wxauth_tracking_clean_since(ngx_http_wxauth_redis_server_t *server, uint64_t mark,
    uint64_t hash)
{
    return server->tracking != NULL && server->tracking->ilog.clean_since(mark, hash);
}


std::string
ngx_http_wxauth_tracking_digest(ngx_http_wxauth_redis_server_t *server,
    std::string_view storage_key)
{
    return wxauth::cache_key_digest(ngx_http_wxauth_sv(server->tracking->identity),
                                    storage_key);
}

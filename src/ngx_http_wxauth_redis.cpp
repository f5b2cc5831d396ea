/*
 * The Redis event adapter: hiredis's async API on nginx's event loop.
 *
 * Answers to the known traps (the event glue itself, draining reads, posted writes and the
 * fd hiredis closes, is ngx_http_wxauth_hiredis.cpp, shared with the sentinel links):
 *  - blocking getaddrinfo: addresses are resolved to numeric form when the configuration is
 *    read; a worker only ever hands hiredis numeric addresses or unix paths;
 *  - no hiredis timeouts in 0.14: every batch has an nginx timer of its own, which fails that
 *    batch only (a location's short wxauth_redis_timeout never costs the others their
 *    connection); the connection itself is dropped when it answered nothing for its liveness
 *    time while replies were due (liveness=, by default the longest wxauth_redis_timeout);
 *  - callbacks fire once, later, maybe with NULL: privdata is a batch owned by this file, never a
 *    request; a request that goes away detaches from its batch;
 *  - connections are made after fork, in init_process, by workers only. A connection that
 *    closes is reopened at once, in the background; while Redis cannot be reached (a connect
 *    or its setup failed) requests fail fast with 503 and a timer probes it every 100 ms with a
 *    non-blocking connect, so the first request after Redis is back finds a live connection.
 *
 * With wxauth_redis_sentinel the address is the master the sentinels name
 * (ngx_http_wxauth_redis_sentinel.cpp): the connection's setup ends with ROLE, and it serves
 * requests only once ROLE said "master"; a lost connection, a -READONLY or -MASTERDOWN reply
 * or a ROLE that is not "master" forgets the address and the probe asks the sentinels again;
 * a +switch-master moves the connection at once (ngx_http_wxauth_redis_follow).
 */

#include "ngx_http_wxauth_redis.h"

#include <time.h>

#include "ngx_http_wxauth_hiredis.h"

#include <new>

#include "core/cluster.h"
#include "core/redis_address.h"
#include "core/sentinel.h"
#include "ngx_http_wxauth_metrics.h"
#include "ngx_http_wxauth_redis_cluster.h"
#include "ngx_http_wxauth_redis_sentinel.h"
#include "ngx_http_wxauth_tracking.h"


#define NGX_HTTP_WXAUTH_REDIS_PROBE_INTERVAL  100


struct ngx_http_wxauth_redis_conn_s {
    ngx_http_wxauth_hiredis_t        h;             /* first: the hooks' privdata */
    ngx_http_wxauth_redis_server_t  *server;
    ngx_log_t                       *log;
    ngx_uint_t                       setup_pending; /* AUTH / SELECT / PING not answered */
    ngx_uint_t                       outstanding;   /* replies due on this connection */
    ngx_msec_t                       quiet_since;   /* the last reply, or the first due */
    ngx_event_t                      liveness;      /* armed while replies are due */
    ngx_event_t                      probe;         /* reconnects in the background */
    unsigned                         lost_pending:1;  /* commands lost with the connection */
    unsigned                         connected:1;
    unsigned                         ready:1;         /* this connection answered its setup */
    unsigned                         setup_counted:1; /* setup replies count for liveness */
    unsigned                         down:1;          /* unreachable: fail fast, probe */
    unsigned                         failure_logged:1;
    unsigned                         exiting:1;
    unsigned                         following:1;     /* sentinel: moving to a new master */
};


/* one command of a batch: the privdata of its reply callback */
typedef struct {
    ngx_http_wxauth_redis_batch_t     *batch;
    ngx_http_wxauth_redis_conn_t      *conn;      /* where it went (last, after a redirect) */
    uint32_t                           index;     /* its reply's place in the batch */
    uint32_t                           redirects; /* cluster: MOVED / ASK followed */
} ngx_http_wxauth_redis_op_t;


struct ngx_http_wxauth_redis_batch_s {
    ngx_http_wxauth_redis_server_t    *server;    /* as configured: for logs, cluster routing */
    ngx_log_t                         *log;
    ngx_http_wxauth_redis_handler_pt   handler;
    void                              *data;
    std::vector<wxauth::ReplyView>     replies;
    std::vector<ngx_http_wxauth_redis_op_t>  ops;
    std::vector<ngx_http_wxauth_redis_cmd_t> cmds;   /* cluster: kept for redirects */
    size_t                             expected;
    size_t                             received;
    uint64_t                           sent_us;   /* monotonic, for the latency histogram */
    ngx_event_t                        timer;
    bool                               lost;
    bool                               timed_out;
    bool                               replicated;   /* wxauth_login_replicas: WAITs follow */
    bool                               redirected;   /* a command was answered by another node */
};


/* the batch whose handler runs now (ngx_http_wxauth_redis_redirected_now) */
static ngx_http_wxauth_redis_batch_t  *ngx_http_wxauth_redis_finishing;


/* a cluster node may redirect one command this often (MOVED, then ASK during a migration) */
#define NGX_HTTP_WXAUTH_REDIS_MAX_REDIRECTS  3


static ngx_int_t ngx_http_wxauth_redis_connect(ngx_http_wxauth_redis_conn_t *conn);


static uint64_t
ngx_http_wxauth_redis_now_us(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}
static void ngx_http_wxauth_redis_drop(ngx_http_wxauth_redis_conn_t *conn);
static void ngx_http_wxauth_redis_moved(ngx_http_wxauth_redis_conn_t *conn,
    const std::string &error);


/* `n` more replies are due: the liveness timer runs while any is */
static void
ngx_http_wxauth_redis_expect(ngx_http_wxauth_redis_conn_t *conn, ngx_uint_t n)
{
    if (n == 0) {
        return;
    }

    if (conn->outstanding == 0) {
        conn->quiet_since = ngx_current_msec;

        if (!conn->liveness.timer_set) {
            ngx_add_timer(&conn->liveness, conn->server->liveness + 1);
        }
    }

    conn->outstanding += n;
}


/* a reply arrived: the connection is alive (the timer handler looks at quiet_since) */
static void
ngx_http_wxauth_redis_answered(ngx_http_wxauth_redis_conn_t *conn)
{
    conn->quiet_since = ngx_current_msec;

    if (conn->outstanding > 0) {
        conn->outstanding--;
    }
}


static void
ngx_http_wxauth_redis_finish(ngx_http_wxauth_redis_batch_t *batch, ngx_uint_t outcome)
{
    ngx_http_wxauth_redis_batch_t     *outer;
    ngx_http_wxauth_redis_handler_pt   handler;

    handler = batch->handler;
    batch->handler = NULL;

    if (handler == NULL) {
        return;
    }

    outer = ngx_http_wxauth_redis_finishing;   /* a handler may finish another batch */
    ngx_http_wxauth_redis_finishing = batch;

    try {
        handler(batch->data, outcome, batch->replies);

    } catch (...) {
        ngx_log_error(NGX_LOG_ALERT, batch->log, 0,
                      "wxauth: exception in a redis reply handler");
    }

    ngx_http_wxauth_redis_finishing = outer;
}


bool
ngx_http_wxauth_redis_redirected_now(void) noexcept
{
    return ngx_http_wxauth_redis_finishing != NULL
           && ngx_http_wxauth_redis_finishing->redirected;
}


/* the reply to a command sent on the side (ASKING): it only keeps the connection's count */
static void
ngx_http_wxauth_redis_aside_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    ngx_http_wxauth_redis_conn_t  *conn;

    conn = static_cast<ngx_http_wxauth_redis_conn_t *>(privdata);

    if (conn != NULL && reply != NULL) {
        ngx_http_wxauth_redis_answered(conn);
    }
}


static void ngx_http_wxauth_redis_reply(redisAsyncContext *ac, void *reply, void *privdata);


/* queues one command of a batch on a connection (after ASKING when `asking`) */
static ngx_int_t
ngx_http_wxauth_redis_write(ngx_http_wxauth_redis_conn_t *conn, ngx_http_wxauth_redis_op_t *op,
    const ngx_http_wxauth_redis_cmd_t &cmd, bool asking)
{
    const char  *argv[16];
    size_t       argvlen[16];
    size_t       argc = cmd.size();

    if (argc == 0 || argc > 16) {
        /* the module's own commands have at most 7 arguments: never send a cut one */
        ngx_log_error(NGX_LOG_ALERT, conn->log, 0,
                      "wxauth: redis command with %uz arguments refused", argc);
        return NGX_ERROR;
    }

    for (size_t i = 0; i < argc; i++) {
        argv[i] = cmd[i].data();
        argvlen[i] = cmd[i].size();
    }

    if (asking) {
        if (redisAsyncCommand(conn->h.ac, ngx_http_wxauth_redis_aside_reply, conn, "ASKING")
            != REDIS_OK)
        {
            return NGX_ERROR;
        }

        ngx_http_wxauth_redis_expect(conn, 1);
    }

    if (redisAsyncCommandArgv(conn->h.ac, ngx_http_wxauth_redis_reply, op, (int) argc, argv,
                              argvlen)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    op->conn = conn;
    ngx_http_wxauth_redis_expect(conn, 1);

    return NGX_OK;
}


/*
 * Cluster: a -MOVED or -ASK for a command whose requester still waits. NGX_OK: the command went
 * to the node named (its reply will come from there); otherwise the error reply stands.
 */
static ngx_int_t
ngx_http_wxauth_redis_redirect(ngx_http_wxauth_redis_op_t *op, const wxauth::ReplyView &reply)
{
    wxauth::ClusterReply             cr;
    ngx_http_wxauth_redis_batch_t   *batch;
    ngx_http_wxauth_redis_server_t  *target;

    batch = op->batch;

    if (batch->server->cluster == NULL || reply.outcome != wxauth::ReplyOutcome::error
        || reply.array || batch->handler == NULL || batch->timed_out
        || op->redirects >= NGX_HTTP_WXAUTH_REDIS_MAX_REDIRECTS)
    {
        return NGX_DECLINED;
    }

    cr = wxauth::parse_cluster_error(reply.text);

    if (cr.kind != wxauth::ClusterReply::Kind::moved
        && cr.kind != wxauth::ClusterReply::Kind::ask)
    {
        return NGX_DECLINED;
    }

    /*
     * A login that waits for replicas is not redirected: its WAIT went to the node it wrote
     * to, so a write answered elsewhere would be acknowledged by nobody. The error stands (503;
     * a MOVED still updates the map, so the next login goes to the right node).
     */
    target = ngx_http_wxauth_cluster_redirected(batch->server, cr, !batch->replicated);

    if (target == NULL || !ngx_http_wxauth_redis_usable(target)) {
        return NGX_DECLINED;
    }

    op->redirects++;
    batch->redirected = true;

    return ngx_http_wxauth_redis_write(target->conn, op, batch->cmds[op->index],
                                       cr.kind == wxauth::ClusterReply::Kind::ask);
}


static void
ngx_http_wxauth_redis_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    ngx_http_wxauth_redis_op_t     *op;
    ngx_http_wxauth_redis_conn_t   *conn;
    ngx_http_wxauth_redis_batch_t  *batch;

    op = static_cast<ngx_http_wxauth_redis_op_t *>(privdata);

    if (op == NULL) {
        return;
    }

    batch = op->batch;
    conn = op->conn;

    if (reply != NULL) {
        ngx_http_wxauth_redis_answered(conn);
    } else {
        batch->lost = true;
        conn->lost_pending = 1;
    }

    try {
        wxauth::ReplyView  view = wxauth::inspect_reply(static_cast<redisReply *>(reply));

        if (reply != NULL && ngx_http_wxauth_redis_redirect(op, view) == NGX_OK) {
            return;   /* the command's reply comes from the node it was redirected to */
        }

        if (conn->server->sentinel != NULL && wxauth::is_failover_error(view)) {
            ngx_http_wxauth_redis_moved(conn, view.text);
        }

        batch->replies[op->index] = std::move(view);

    } catch (...) {
        batch->lost = true;
    }

    if (++batch->received < batch->expected) {
        return;
    }

    if (batch->timer.timer_set) {
        ngx_del_timer(&batch->timer);
    }

    if (batch->lost) {
        if (!batch->timed_out) {
            ngx_http_wxauth_metric_inc(wxauth::Metric::redis_errors);
        }
    } else {
        ngx_http_wxauth_metric_redis_latency(ngx_http_wxauth_redis_now_us() - batch->sent_us);
    }

    ngx_http_wxauth_redis_finish(batch, batch->lost ? NGX_HTTP_WXAUTH_REDIS_ERROR
                                                    : NGX_HTTP_WXAUTH_REDIS_OK);
    delete batch;
}


static void
ngx_http_wxauth_redis_timeout(ngx_event_t *ev)
{
    ngx_http_wxauth_redis_batch_t  *batch;

    batch = static_cast<ngx_http_wxauth_redis_batch_t *>(ev->data);

    ngx_log_error(NGX_LOG_ERR, batch->log, NGX_ETIMEDOUT,
                  "wxauth: redis %V did not answer in time", &batch->server->name);

    ngx_http_wxauth_metric_inc(wxauth::Metric::redis_timeouts);
    batch->timed_out = true;

    /*
     * Only this batch fails; the connection is the liveness timer's business. The batch itself
     * is freed when hiredis hands back its replies (or NULLs).
     */
    ngx_http_wxauth_redis_finish(batch, NGX_HTTP_WXAUTH_REDIS_TIMEOUT);
}


/* replies were due and none came for the liveness time: the connection is dead */
static void
ngx_http_wxauth_redis_liveness_expired(ngx_event_t *ev)
{
    ngx_msec_t                     quiet;
    ngx_http_wxauth_redis_conn_t  *conn;

    conn = static_cast<ngx_http_wxauth_redis_conn_t *>(ev->data);

    if (conn->h.ac == NULL || conn->outstanding == 0) {
        return;
    }

    /*
     * Dead only when silent for longer than the liveness time: a request that waits exactly
     * that long has had its own timeout (and its 503) first.
     */
    quiet = ngx_current_msec - conn->quiet_since;

    if (quiet <= conn->server->liveness) {
        ngx_add_timer(&conn->liveness, conn->server->liveness - quiet + 1);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                  "wxauth: dropping the connection to redis %V, it stopped answering "
                  "(no reply for %M ms, %ui due)",
                  &conn->server->name, conn->server->liveness, conn->outstanding);
    conn->failure_logged = 1;
    conn->down = 1;

    ngx_http_wxauth_redis_drop(conn);
}


/* hiredis freed the context: forget it, and reconnect in the background */
static void
ngx_http_wxauth_redis_gone(ngx_http_wxauth_hiredis_t *h)
{
    ngx_http_wxauth_redis_conn_t  *conn;

    conn = reinterpret_cast<ngx_http_wxauth_redis_conn_t *>(h);

    if (conn->connected) {
        ngx_http_wxauth_metric_add(wxauth::Metric::redis_connections, -1);
    }

    /*
     * A connection closed before it answered its setup (Redis at maxclients, protected mode, a
     * proxy in front of a dead Redis) is not a Redis to reconnect to at once: probe instead.
     */
    if (!conn->ready) {
        conn->down = 1;
    }

    conn->connected = 0;
    conn->ready = 0;
    conn->outstanding = 0;

    /* session cache: the keys this connection read are no longer tracked (the data
       connection's; a login's WAIT connection reads nothing that is cached) */
    if (conn == conn->server->conn) {
        ngx_http_wxauth_tracking_data_gone(conn->server);
    }

    if (conn->liveness.timer_set) {
        ngx_del_timer(&conn->liveness);
    }

    if (!conn->exiting) {
        /* at once after a close; every 100 ms while Redis cannot be reached */
        ngx_add_timer(&conn->probe, conn->down ? NGX_HTTP_WXAUTH_REDIS_PROBE_INTERVAL : 1);

        if (conn->server->sentinel != NULL && !conn->following) {
            /* the master was lost or is no master: the probe asks the sentinels again */
            ngx_http_wxauth_sentinel_forget(conn->server);
            conn->down = 1;
        }

        if (conn->server->cluster_of != NULL) {
            /* a cluster node went away: its slots may have moved (a failover) */
            ngx_http_wxauth_cluster_node_lost(conn->server);
        }
    }
}


static void
ngx_http_wxauth_redis_probe(ngx_event_t *ev)
{
    ngx_http_wxauth_redis_conn_t  *conn;

    conn = static_cast<ngx_http_wxauth_redis_conn_t *>(ev->data);

    if (conn->exiting || conn->h.ac != NULL) {
        return;
    }

    if (ngx_http_wxauth_redis_connect(conn) != NGX_OK && !conn->exiting) {
        conn->down = 1;
        ngx_add_timer(&conn->probe, NGX_HTTP_WXAUTH_REDIS_PROBE_INTERVAL);
    }
}


/* connected, and AUTH / SELECT answered: requests may use the connection again */
static void
ngx_http_wxauth_redis_ready(ngx_http_wxauth_redis_conn_t *conn)
{
    conn->ready = 1;
    conn->down = 0;

    if (conn->failure_logged) {
        ngx_log_error(NGX_LOG_NOTICE, conn->log, 0, "wxauth: redis %V is reachable again",
                      &conn->server->name);
        conn->failure_logged = 0;
    }

    /* session cache: CLIENT TRACKING on the data connection */
    if (conn == conn->server->conn) {
        ngx_http_wxauth_tracking_data_ready(conn->server);
    }
}


static void
ngx_http_wxauth_redis_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_wxauth_redis_conn_t  *conn;

    conn = static_cast<ngx_http_wxauth_redis_conn_t *>(ac->data);

    if (status != REDIS_OK) {
        if (!conn->failure_logged) {
            ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                          "wxauth: could not connect to redis %V: %s",
                          &conn->server->name, ac->errstr ? ac->errstr : "unknown error");
            conn->failure_logged = 1;
        }

        conn->down = 1;
        return;   /* hiredis frees the context now; the disconnect hook tidies up */
    }

    conn->connected = 1;

    ngx_http_wxauth_metric_add(wxauth::Metric::redis_connections, 1);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, conn->log, 0, "wxauth: connected to redis %V",
                   &conn->server->name);

    /* commands queued while connecting are pending: flush them */
    ngx_http_wxauth_hiredis_add_write(&conn->h);
}


static void
ngx_http_wxauth_redis_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_wxauth_redis_conn_t  *conn;

    conn = static_cast<ngx_http_wxauth_redis_conn_t *>(ac->data);

    if (status != REDIS_OK && !conn->exiting && !conn->failure_logged) {
        if (conn->lost_pending) {
            ngx_log_error(NGX_LOG_ERR, conn->log, 0, "wxauth: lost redis %V: %s",
                          &conn->server->name, ac->errstr ? ac->errstr : "connection closed");
            conn->failure_logged = 1;

        } else {
            /* an idle connection closed by Redis (its `timeout`): reopened on demand */
            ngx_log_error(NGX_LOG_INFO, conn->log, 0, "wxauth: redis %V closed an idle "
                          "connection: %s", &conn->server->name,
                          ac->errstr ? ac->errstr : "connection closed");
        }
    }

    conn->lost_pending = 0;
}


static void
ngx_http_wxauth_redis_setup_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    redisReply                    *r;
    ngx_http_wxauth_redis_conn_t  *conn;

    conn = static_cast<ngx_http_wxauth_redis_conn_t *>(privdata);
    r = static_cast<redisReply *>(reply);

    if (r == NULL) {
        return;
    }

    if (conn->setup_counted) {
        ngx_http_wxauth_redis_answered(conn);

    } else {
        conn->quiet_since = ngx_current_msec;
    }

    if (r->type == REDIS_REPLY_ERROR) {
        /* Redis's own message (e.g. WRONGPASS ...): never contains the password */
        if (!conn->failure_logged) {
            ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                          "wxauth: redis %V refused the connection setup: %*s",
                          &conn->server->name, (size_t) ngx_min(r->len, 256), r->str);
            conn->failure_logged = 1;
        }

        conn->down = 1;
        redisAsyncFree(ac);   /* deferred by hiredis until this callback returns */
        return;
    }

    /* the connection is usable once the whole setup succeeded */
    if (conn->setup_pending && --conn->setup_pending == 0 && conn->connected) {
        ngx_http_wxauth_redis_ready(conn);
    }
}


/* sentinel mode: ROLE, the last command of the setup, says whether this is the master */
static void
ngx_http_wxauth_redis_role_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    redisReply                    *r;
    wxauth::RedisRole              role;
    ngx_http_wxauth_redis_conn_t  *conn;

    conn = static_cast<ngx_http_wxauth_redis_conn_t *>(privdata);
    r = static_cast<redisReply *>(reply);

    if (r == NULL) {
        return;
    }

    if (conn->setup_counted) {
        ngx_http_wxauth_redis_answered(conn);

    } else {
        conn->quiet_since = ngx_current_msec;
    }

    try {
        role = wxauth::parse_role_reply(wxauth::inspect_reply(r));

    } catch (...) {
        role = wxauth::RedisRole::unknown;
    }

    if (role != wxauth::RedisRole::master) {
        /* never a write to a replica: ask the sentinels again, after a pause */
        if (conn->failure_logged) {
            /* said once until a master is confirmed: this repeats every 100 ms */

        } else if (r->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                          "wxauth: redis %V refused ROLE: %*s",
                          &conn->server->name, (size_t) ngx_min(r->len, 256), r->str);
        } else {
            ngx_log_error(NGX_LOG_WARN, conn->log, 0,
                          "wxauth: redis %V is not the master (ROLE: %s), "
                          "asking the sentinels again", &conn->server->name,
                          role == wxauth::RedisRole::replica ? "replica"
                          : role == wxauth::RedisRole::sentinel ? "sentinel" : "unknown");
        }

        conn->failure_logged = 1;
        conn->down = 1;
        redisAsyncFree(ac);   /* deferred by hiredis until this callback returns */
        return;
    }

    ngx_http_wxauth_sentinel_confirmed(conn->server);

    if (conn->setup_pending && --conn->setup_pending == 0 && conn->connected) {
        ngx_http_wxauth_redis_ready(conn);
    }
}


static ngx_int_t
ngx_http_wxauth_redis_connect(ngx_http_wxauth_redis_conn_t *conn)
{
    char                             db[NGX_INT_T_LEN + 1];
    const char                      *argv[2];
    size_t                           argvlen[2];
    redisAsyncContext               *ac;
    ngx_http_wxauth_redis_server_t  *server;

    server = conn->server;

    if (server->sentinel != NULL) {
        /* requests wait for ROLE's "master"; with no master known, ask the sentinels */
        conn->down = 1;

        if (server->host.len == 0) {
            ngx_http_wxauth_sentinel_discover(server);
            return NGX_DECLINED;
        }
    }

    if (server->path.len) {
        ac = redisAsyncConnectUnix((const char *) server->path.data);
    } else {
        ac = redisAsyncConnect((const char *) server->host.data, (int) server->port);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                      "wxauth: could not allocate a redis context for %V", &server->name);
        return NGX_ERROR;
    }

    if (ac->err) {
        if (!conn->failure_logged) {
            ngx_log_error(NGX_LOG_ERR, conn->log, 0, "wxauth: could not connect to redis %V: %s",
                          &server->name, ac->errstr);
            conn->failure_logged = 1;
        }

        conn->down = 1;
        redisAsyncFree(ac);   /* its cleanup hook is not set yet: nothing else runs */
        ngx_http_wxauth_sentinel_forget(server);   /* sentinel mode: ask again */
        return NGX_ERROR;
    }

    if (ngx_http_wxauth_hiredis_attach(&conn->h, ac) != NGX_OK) {
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    conn->connected = 0;
    conn->ready = 0;

    /*
     * AUTH and SELECT when configured, then PING (with Sentinel: ROLE, which must say "master"):
     * ready once Redis answered all of them
     */
    conn->setup_pending = (server->password.len ? 1 : 0) + (server->db ? 1 : 0) + 1;

    ac->data = conn;

    /* the first writable event tells that the connection is up */
    redisAsyncSetConnectCallback(ac, ngx_http_wxauth_redis_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_http_wxauth_redis_disconnected);

    if (server->password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (const char *) server->password.data;
        argvlen[1] = server->password.len;
        redisAsyncCommandArgv(ac, ngx_http_wxauth_redis_setup_reply, conn, 2, argv, argvlen);
    }

    if (server->db) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = db;
        argvlen[1] = ngx_sprintf((u_char *) db, "%i", server->db) - (u_char *) db;
        redisAsyncCommandArgv(ac, ngx_http_wxauth_redis_setup_reply, conn, 2, argv, argvlen);
    }

    /*
     * Every connection ends its setup with a PING: only a connection that answered it is
     * ready, so a Redis that accepts and closes at once (maxclients, protected mode, a proxy in
     * front of a dead Redis) is told apart from a working one and probed, not hammered. With
     * Sentinel the last command is ROLE instead: only the master is ever ready, so nothing is
     * ever written to a replica.
     */
    if (server->sentinel) {
        argv[0] = "ROLE";
        argvlen[0] = 4;
        redisAsyncCommandArgv(ac, ngx_http_wxauth_redis_role_reply, conn, 1, argv, argvlen);

    } else {
        argv[0] = "PING";
        argvlen[0] = 4;
        redisAsyncCommandArgv(ac, ngx_http_wxauth_redis_setup_reply, conn, 1, argv, argvlen);
    }

    /*
     * While Redis is down no request waits on the connection: the setup's replies run the
     * liveness timer, the deadline of a probe whose connect hangs (SYNs dropped). Otherwise
     * the requests' own replies run it. (With Sentinel the connection is down until ROLE.)
     */
    conn->setup_counted = conn->down;

    if (conn->setup_counted) {
        ngx_http_wxauth_redis_expect(conn, conn->setup_pending);
    }

    return NGX_OK;
}


static void
ngx_http_wxauth_redis_drop(ngx_http_wxauth_redis_conn_t *conn)
{
    if (conn->h.ac == NULL) {
        return;
    }

    if (!conn->exiting) {
        ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                      "wxauth: dropping the connection to redis %V, it stopped answering",
                      &conn->server->name);
        conn->failure_logged = 1;
    }

    /* pending batches get NULL replies; the cleanup hooks forget the context */
    redisAsyncFree(conn->h.ac);
}


/* sentinel mode: -READONLY or -MASTERDOWN: this is no longer the master */
static void
ngx_http_wxauth_redis_moved(ngx_http_wxauth_redis_conn_t *conn, const std::string &error)
{
    if (conn->h.ac == NULL || (conn->h.ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING))) {
        return;
    }

    /* Redis's own message: never contains a password */
    ngx_log_error(NGX_LOG_WARN, conn->log, 0,
                  "wxauth: redis %V answered \"%*s\", asking the sentinels again",
                  &conn->server->name, ngx_min(error.size(), (size_t) 256), error.data());
    conn->failure_logged = 1;

    /*
     * Deferred by hiredis until the reply callback returns; meanwhile no request is sent
     * (the context is being freed), then the cleanup hook forgets the master.
     */
    redisAsyncFree(conn->h.ac);
}


static void
ngx_http_wxauth_redis_follow_conn(ngx_http_wxauth_redis_conn_t *conn)
{
    if (conn == NULL || conn->exiting) {
        return;
    }

    if (conn->h.ac != NULL) {
        /* requests waiting on the old master get 503; it is not forgotten, it is replaced */
        conn->following = 1;
        conn->down = 1;
        redisAsyncFree(conn->h.ac);
        conn->following = 0;
    }

    if (conn->h.ac != NULL) {
        return;   /* freed later by hiredis: the probe connects then (never happens here) */
    }

    if (conn->probe.timer_set) {
        ngx_del_timer(&conn->probe);
    }

    if (ngx_http_wxauth_redis_connect(conn) != NGX_OK && !conn->exiting) {
        conn->down = 1;
        ngx_add_timer(&conn->probe, NGX_HTTP_WXAUTH_REDIS_PROBE_INTERVAL);
    }
}


void
ngx_http_wxauth_redis_follow(ngx_http_wxauth_redis_server_t *server)
{
    ngx_http_wxauth_redis_follow_conn(server->conn);
    ngx_http_wxauth_redis_follow_conn(server->wconn);
}


static bool
ngx_http_wxauth_redis_conn_usable(ngx_http_wxauth_redis_conn_t *conn) noexcept
{
    if (conn == NULL || conn->exiting || conn->down) {
        return false;   /* unreachable: fail fast, the probe reconnects in the background */
    }

    if (conn->h.ac == NULL) {
        /* closed a moment ago (Redis's idle timeout, a restart): reconnect now */
        if (conn->probe.timer_set) {
            ngx_del_timer(&conn->probe);
        }

        if (ngx_http_wxauth_redis_connect(conn) != NGX_OK) {
            if (!conn->exiting) {
                ngx_add_timer(&conn->probe, NGX_HTTP_WXAUTH_REDIS_PROBE_INTERVAL);
            }

            return false;
        }
    }

    return !(conn->h.ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING));
}


bool
ngx_http_wxauth_redis_usable(ngx_http_wxauth_redis_server_t *server) noexcept
{
    return ngx_http_wxauth_redis_conn_usable(server->conn);
}


bool
ngx_http_wxauth_redis_ready_now(ngx_http_wxauth_redis_server_t *server) noexcept
{
    ngx_http_wxauth_redis_conn_t  *conn;

    conn = server->conn;

    return conn != NULL && conn->h.ac != NULL && conn->ready && !conn->down && !conn->exiting;
}


static ngx_http_wxauth_redis_batch_t *
ngx_http_wxauth_redis_send_ex(ngx_http_wxauth_redis_server_t *server, ngx_msec_t timeout,
    const std::vector<ngx_http_wxauth_redis_cmd_t> &cmds, ngx_uint_t replicas,
    ngx_msec_t wait, size_t *waits, ngx_http_wxauth_redis_handler_pt handler,
    void *data) noexcept
{
    size_t                                       i, k, n, nwaits;
    ngx_log_t                                   *log;
    ngx_http_wxauth_redis_conn_t                *local[8], **conns, *conn;
    ngx_http_wxauth_redis_batch_t               *batch;
    ngx_http_wxauth_redis_server_t              *target;
    std::vector<ngx_http_wxauth_redis_conn_t *>  more;

    n = cmds.size();

    if (n == 0) {
        return NULL;
    }

    conns = local;

    if (n > sizeof(local) / sizeof(local[0])) {
        /* a single-session login that ends many older sessions */
        try {
            more.resize(n);

        } catch (...) {
            return NULL;
        }

        conns = more.data();
    }

    /*
     * Where each command goes: the server's connection, or with Redis Cluster the node that
     * serves its key's slot (a login that waits for replicas: that server's second
     * connection). Nothing is sent unless every command can go: a batch that cannot be sent
     * whole fails fast (503), it never waits on a node that is down.
     */
    nwaits = 0;

    for (i = 0; i < n; i++) {
        if (server->cluster != NULL) {
            try {
                target = ngx_http_wxauth_cluster_route(server, wxauth::command_key(cmds[i]));

            } catch (...) {
                target = NULL;
            }

        } else {
            target = server;
        }

        if (target == NULL) {
            return NULL;
        }

        conn = replicas ? target->wconn : target->conn;

        if (!ngx_http_wxauth_redis_conn_usable(conn)) {
            return NULL;
        }

        conns[i] = conn;

        if (replicas) {
            for (k = 0; k < i && conns[k] != conn; k++) { /* void */ }
            nwaits += (k == i);
        }
    }

    log = conns[0]->log;

    try {
        batch = new ngx_http_wxauth_redis_batch_t();
        batch->replies.resize(n + nwaits);
        batch->ops.resize(n + nwaits);

        if (server->cluster != NULL) {
            batch->cmds = cmds;   /* a node may redirect a command: it is sent again */
        }

    } catch (...) {
        return NULL;
    }

    batch->server = server;
    batch->log = log;
    batch->handler = handler;
    batch->data = data;
    batch->expected = 0;
    batch->received = 0;
    batch->sent_us = ngx_http_wxauth_redis_now_us();
    batch->lost = false;
    batch->timed_out = false;
    batch->replicated = replicas != 0;
    batch->redirected = false;

    for (i = 0; i < n + nwaits; i++) {
        batch->ops[i].batch = batch;
        batch->ops[i].index = (uint32_t) i;
        batch->ops[i].redirects = NGX_HTTP_WXAUTH_REDIS_MAX_REDIRECTS;
    }

    for (i = 0; i < n; i++) {
        batch->ops[i].redirects = 0;

        if (ngx_http_wxauth_redis_write(conns[i], &batch->ops[i], cmds[i], false) != NGX_OK) {
            batch->lost = true;
            break;
        }

        batch->expected++;
    }

    if (replicas && !batch->lost) {
        /* WAIT on each connection that took a write, after its writes (never redirected) */
        try {
            ngx_http_wxauth_redis_cmd_t  wait_cmd{"WAIT", std::to_string(replicas),
                                                  std::to_string(wait)};
            size_t                       w = n;

            for (i = 0; i < n && !batch->lost; i++) {
                for (k = 0; k < i && conns[k] != conns[i]; k++) { /* void */ }

                if (k < i) {
                    continue;
                }

                if (ngx_http_wxauth_redis_write(conns[i], &batch->ops[w], wait_cmd, false)
                    != NGX_OK)
                {
                    batch->lost = true;
                    break;
                }

                w++;
                batch->expected++;
            }

        } catch (...) {
            batch->lost = true;
        }
    }

    if (batch->expected == 0) {
        delete batch;
        return NULL;
    }

    if (waits != NULL) {
        *waits = nwaits;
    }

    batch->timer.handler = ngx_http_wxauth_redis_timeout;
    batch->timer.data = batch;
    batch->timer.log = log;
    ngx_add_timer(&batch->timer, timeout + (replicas ? wait : 0));

    return batch;
}


ngx_http_wxauth_redis_batch_t *
ngx_http_wxauth_redis_send(ngx_http_wxauth_redis_server_t *server, ngx_msec_t timeout,
    const std::vector<ngx_http_wxauth_redis_cmd_t> &cmds,
    ngx_http_wxauth_redis_handler_pt handler, void *data) noexcept
{
    return ngx_http_wxauth_redis_send_ex(server, timeout, cmds, 0, 0, NULL, handler, data);
}


static void
ngx_http_wxauth_redis_step_handler(void *data, ngx_uint_t outcome,
    const std::vector<wxauth::ReplyView> &replies)
{
    ngx_connection_t              *c;
    ngx_http_request_t            *r;
    ngx_http_wxauth_ctx_t         *ctx;
    ngx_http_wxauth_step_done_pt   done;

    r = static_cast<ngx_http_request_t *>(data);
    c = r->connection;
    ctx = static_cast<ngx_http_wxauth_ctx_t *>(ngx_http_get_module_ctx(r, ngx_http_wxauth_module));

    done = ctx->step_done;
    ctx->step_done = NULL;
    ctx->pending = NULL;

    try {
        done(r, ctx, outcome, replies);

    } catch (...) {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0, "wxauth: exception after a redis step");
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    /* the one place that runs what the step's continuation posted (subrequests, phases) */
    ngx_http_run_posted_requests(c);
}


/* the one way a request sends a batch and waits for it (replicas: a login's WAIT) */
static ngx_int_t
ngx_http_wxauth_redis_step_ex(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    const wxauth::RedisCommands &cmds, ngx_uint_t replicas, size_t *waits,
    ngx_http_wxauth_step_done_pt done) noexcept
{
    ngx_http_wxauth_loc_conf_t  *wlcf;

    wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(
               ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module));

    if (wlcf->redis == NULL) {
        return NGX_DECLINED;
    }

    ctx->step_done = done;
    ctx->pending = ngx_http_wxauth_redis_send_ex(wlcf->redis, wlcf->redis_timeout, cmds,
                                                 replicas, wlcf->login_replicas_wait, waits,
                                                 ngx_http_wxauth_redis_step_handler, r);

    if (ctx->pending == NULL) {
        ctx->step_done = NULL;
        return NGX_DECLINED;
    }

    ngx_http_wxauth_park(r);

    return NGX_AGAIN;
}


ngx_int_t
ngx_http_wxauth_redis_step(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    const wxauth::RedisCommands &cmds, ngx_http_wxauth_step_done_pt done) noexcept
{
    return ngx_http_wxauth_redis_step_ex(r, ctx, cmds, 0, NULL, done);
}


ngx_int_t
ngx_http_wxauth_redis_step_replicated(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    const wxauth::RedisCommands &cmds, size_t *waits, ngx_http_wxauth_step_done_pt done) noexcept
{
    ngx_http_wxauth_loc_conf_t  *wlcf;

    wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(
               ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module));

    *waits = 0;

    return ngx_http_wxauth_redis_step_ex(r, ctx, cmds, wlcf->login_replicas, waits, done);
}


void
ngx_http_wxauth_redis_detach(ngx_http_wxauth_redis_batch_t *batch) noexcept
{
    if (batch != NULL) {
        batch->handler = NULL;
    }
}


static ngx_http_wxauth_redis_conn_t *
ngx_http_wxauth_redis_conn_new(ngx_http_wxauth_redis_server_t *server, ngx_log_t *log)
{
    ngx_http_wxauth_redis_conn_t  *conn;

    conn = static_cast<ngx_http_wxauth_redis_conn_t *>(
               ngx_pcalloc(ngx_cycle->pool, sizeof(ngx_http_wxauth_redis_conn_t)));
    if (conn == NULL) {
        return NULL;
    }

    conn->server = server;
    conn->log = log;

    conn->h.log = log;
    conn->h.kind = "redis";
    conn->h.name = &server->name;
    conn->h.gone = ngx_http_wxauth_redis_gone;

    ngx_http_wxauth_background_timer(&conn->liveness, ngx_http_wxauth_redis_liveness_expired,
                                     conn, log);
    ngx_http_wxauth_background_timer(&conn->probe, ngx_http_wxauth_redis_probe, conn, log);

    return conn;
}


ngx_int_t
ngx_http_wxauth_redis_open(ngx_http_wxauth_redis_server_t *server, ngx_log_t *log)
{
    server->conn = ngx_http_wxauth_redis_conn_new(server, log);
    if (server->conn == NULL) {
        return NGX_ERROR;
    }

    if (server->needs_wconn) {
        /* wxauth_login_replicas: logins WAIT on a connection of their own */
        server->wconn = ngx_http_wxauth_redis_conn_new(server, log);
        if (server->wconn == NULL) {
            return NGX_ERROR;
        }
    }

    /* session cache: the invalidation connection that goes with this one */
    if (ngx_http_wxauth_tracking_open(server, log) != NGX_OK) {
        return NGX_ERROR;
    }

    if (server->sentinel != NULL
        && ngx_http_wxauth_sentinel_init_worker(server, log) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* connect now so that the first request finds the connection up; failures retry */
    for (ngx_http_wxauth_redis_conn_t *conn : { server->conn, server->wconn }) {
        if (conn != NULL && ngx_http_wxauth_redis_connect(conn) != NGX_OK) {
            ngx_add_timer(&conn->probe, NGX_HTTP_WXAUTH_REDIS_PROBE_INTERVAL);
        }
    }

    return NGX_OK;
}


void
ngx_http_wxauth_redis_close(ngx_http_wxauth_redis_server_t *server)
{
    if (server->conn == NULL) {
        return;
    }

    for (ngx_http_wxauth_redis_conn_t *conn : { server->conn, server->wconn }) {
        if (conn != NULL) {
            conn->exiting = 1;
        }
    }

    ngx_http_wxauth_tracking_close(server);   /* session cache */

    if (server->sentinel != NULL) {
        ngx_http_wxauth_sentinel_exit_worker(server);
    }

    for (ngx_http_wxauth_redis_conn_t *conn : { server->conn, server->wconn }) {
        if (conn == NULL) {
            continue;
        }

        if (conn->probe.timer_set) {
            ngx_del_timer(&conn->probe);
        }

        if (conn->h.ac != NULL) {
            redisAsyncFree(conn->h.ac);
        }

        if (conn->liveness.timer_set) {
            ngx_del_timer(&conn->liveness);
        }
    }

    server->conn = NULL;
    server->wconn = NULL;
}


ngx_int_t
ngx_http_wxauth_redis_init_worker(ngx_cycle_t *cycle, ngx_array_t *servers)
{
    ngx_uint_t                        i;
    ngx_http_wxauth_redis_server_t  **server;

    server = static_cast<ngx_http_wxauth_redis_server_t **>(servers->elts);

    for (i = 0; i < servers->nelts; i++) {
        if (server[i]->cluster != NULL) {
            /* a connection per node the slot map names, made as the map is learnt */
            if (ngx_http_wxauth_cluster_init_worker(server[i], cycle->log) != NGX_OK) {
                return NGX_ERROR;
            }

            continue;
        }

        if (ngx_http_wxauth_redis_open(server[i], cycle->log) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


void
ngx_http_wxauth_redis_exit_worker(ngx_array_t *servers)
{
    ngx_uint_t                        i;
    ngx_http_wxauth_redis_server_t  **server;

    server = static_cast<ngx_http_wxauth_redis_server_t **>(servers->elts);

    for (i = 0; i < servers->nelts; i++) {
        if (server[i]->cluster != NULL) {
            ngx_http_wxauth_cluster_exit_worker(server[i]);
            continue;
        }

        ngx_http_wxauth_redis_close(server[i]);
    }
}


void
ngx_http_wxauth_redis_nodes(ngx_array_t *servers, std::vector<wxauth::RedisNodeInfo> &out)
{
    ngx_uint_t                        i;
    wxauth::RedisNodeInfo             node;
    ngx_http_wxauth_redis_server_t  **server;

    server = static_cast<ngx_http_wxauth_redis_server_t **>(servers->elts);

    for (i = 0; i < servers->nelts; i++) {
        if (server[i]->cluster != NULL) {
            ngx_http_wxauth_cluster_nodes(server[i], out);
            continue;
        }

        node.redis.assign((const char *) server[i]->name.data, server[i]->name.len);

        if (server[i]->sentinel != NULL) {
            /* the master the sentinels named, once ROLE confirmed it */
            if (server[i]->host.len == 0 || !ngx_http_wxauth_redis_ready_now(server[i])) {
                continue;
            }

            node.redis.assign((const char *) server[i]->sentinel->master_name.data,
                              server[i]->sentinel->master_name.len);
            node.role = "master";

        } else {
            node.role = "standalone";
        }

        if (server[i]->path.len) {
            node.address = "unix:" + std::string((const char *) server[i]->path.data,
                                                 server[i]->path.len);

        } else {
            wxauth::NodeAddress  a;

            a.host.assign((const char *) server[i]->host.data, server[i]->host.len);
            a.port = (int) server[i]->port;
            node.address = wxauth::to_string(a);
        }

        node.connected = ngx_http_wxauth_redis_ready_now(server[i]);
        out.push_back(node);
    }
}


char *
ngx_http_wxauth_redis_parse(ngx_conf_t *cf, ngx_http_wxauth_redis_server_t *server,
    ngx_str_t *address)
{
    u_char               *p;
    size_t                len;
    ngx_url_t             u;
    std::string           error;
    wxauth::RedisAddress  parsed;

    try {
        if (!wxauth::parse_redis_address(
                std::string_view((const char *) address->data, address->len), parsed, error))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid redis address \"%V\": %s",
                               address, error.c_str());
            return static_cast<char *>(NGX_CONF_ERROR);
        }

    } catch (...) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    server->name = *address;

    if (parsed.kind == wxauth::RedisAddress::Kind::unix_socket) {
        server->path.len = parsed.path.size();
        server->path.data = static_cast<u_char *>(ngx_pnalloc(cf->pool, parsed.path.size() + 1));
        if (server->path.data == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }

        ngx_memcpy(server->path.data, parsed.path.data(), parsed.path.size());
        server->path.data[parsed.path.size()] = '\0';
        return NGX_CONF_OK;
    }

    /* resolve now, in the master, so that a worker never calls getaddrinfo on a name */

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = *address;
    u.default_port = 6379;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in redis address \"%V\"", u.err,
                               address);
        }

        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "redis host \"%V\" has no address", &u.host);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (u.naddrs > 1) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "redis host \"%V\" has %ui addresses, using the first one",
                           &u.host, u.naddrs);
    }

    p = static_cast<u_char *>(ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1));
    if (p == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, p, NGX_SOCKADDR_STRLEN, 0);
    p[len] = '\0';

    server->host.data = p;
    server->host.len = len;
    server->port = ngx_inet_get_port(u.addrs[0].sockaddr);

    return NGX_CONF_OK;
}

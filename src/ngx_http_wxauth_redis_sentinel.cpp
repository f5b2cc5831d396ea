/*
 * Redis Sentinel for the adapter: which master the sentinels name, and following it when they
 * promote another one. Per worker and `wxauth_redis_sentinel`, two hiredis async links on
 * nginx's event loop (no blocking call, numeric addresses only, every callback catches):
 *
 *  - the ask link: `SENTINEL get-master-addr-by-name` on one sentinel at a time, opened only
 *    while the master is unknown (at start, after the connection to it was lost, after it
 *    answered -READONLY / -MASTERDOWN or ROLE said it is no master). A sentinel that cannot
 *    be reached, refuses, does not know the name or does not answer within the liveness time
 *    (at least 1 s) is skipped for the next one in the configured order; after a whole round
 *    without an answer the next round starts 100 ms later. An answer that did not work out
 *    (unreachable, not a master) sends the next question to the next sentinel too;
 *  - the subscription link: `SUBSCRIBE +switch-master` on one sentinel, for the whole life of
 *    the worker, moved to the next sentinel 100 ms after it is lost (and the sentinels are
 *    then asked again, in case a switch happened meanwhile).
 *
 * Either one hands the address to ngx_http_wxauth_redis_follow(), which connects to it; the
 * adapter sends ROLE there before anything else, and the connection serves requests only once
 * ROLE said "master" (ngx_http_wxauth_sentinel_confirmed). Until then requests fail fast.
 */

#include "ngx_http_wxauth_redis_sentinel.h"

#include <string>

#include "core/sentinel.h"
#include "ngx_http_wxauth_metrics.h"


#define NGX_HTTP_WXAUTH_SENTINEL_PAUSE         100   /* after a round without an answer */
#define NGX_HTTP_WXAUTH_SENTINEL_PORT          26379
#define NGX_HTTP_WXAUTH_SENTINEL_ASK_TIMEOUT   1000  /* at least, or liveness= */


static void ngx_http_wxauth_sentinel_ask(ngx_http_wxauth_sentinel_t *s);
static void ngx_http_wxauth_sentinel_subscribe(ngx_http_wxauth_sentinel_t *s);


static ngx_http_wxauth_sentinel_addr_t *
ngx_http_wxauth_sentinel_addr(ngx_http_wxauth_sentinel_link_t *link)
{
    ngx_http_wxauth_sentinel_addr_t  *addrs;

    addrs = static_cast<ngx_http_wxauth_sentinel_addr_t *>(link->sentinel->addrs.elts);

    return &addrs[link->index];
}


/* the ask link is gone: answered, or on to the next sentinel */
static void
ngx_http_wxauth_sentinel_ask_gone(ngx_http_wxauth_sentinel_t *s)
{
    ngx_http_wxauth_sentinel_link_t  *link;

    link = &s->ask;

    if (link->timer.timer_set) {
        ngx_del_timer(&link->timer);
    }

    if (s->exiting) {
        return;
    }

    if (link->answered) {
        s->tried = 0;   /* this one is asked first next time */
        return;
    }

    link->index = wxauth::next_sentinel(link->index, s->addrs.nelts);

    if (++s->tried >= s->addrs.nelts) {
        s->tried = 0;
        ngx_add_timer(&link->timer, NGX_HTTP_WXAUTH_SENTINEL_PAUSE);
        return;
    }

    ngx_add_timer(&link->timer, 1);
}


/* the subscription is gone: subscribe on the next sentinel */
static void
ngx_http_wxauth_sentinel_sub_gone(ngx_http_wxauth_sentinel_t *s)
{
    ngx_http_wxauth_sentinel_link_t  *link;

    link = &s->sub;

    if (link->timer.timer_set) {
        ngx_del_timer(&link->timer);
    }

    if (s->exiting) {
        return;
    }

    if (link->lost && !link->failure_logged) {
        ngx_log_error(NGX_LOG_WARN, s->log, 0,
                      "wxauth: lost the +switch-master subscription on sentinel %V, "
                      "moving it to the next one", &ngx_http_wxauth_sentinel_addr(link)->name);
        link->failure_logged = 1;
    }

    link->index = wxauth::next_sentinel(link->index, s->addrs.nelts);
    ngx_add_timer(&link->timer, NGX_HTTP_WXAUTH_SENTINEL_PAUSE);
}


/* hiredis freed a link's context: on to what comes next for that link */
static void
ngx_http_wxauth_sentinel_gone(ngx_http_wxauth_hiredis_t *h)
{
    ngx_http_wxauth_sentinel_t       *s;
    ngx_http_wxauth_sentinel_link_t  *link;

    link = reinterpret_cast<ngx_http_wxauth_sentinel_link_t *>(h);
    s = link->sentinel;

    if (link == &s->ask) {
        ngx_http_wxauth_sentinel_ask_gone(s);
    } else {
        ngx_http_wxauth_sentinel_sub_gone(s);
    }
}


static void
ngx_http_wxauth_sentinel_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_wxauth_sentinel_link_t  *link;

    link = static_cast<ngx_http_wxauth_sentinel_link_t *>(ac->data);

    if (status != REDIS_OK) {
        if (!link->failure_logged) {
            ngx_log_error(NGX_LOG_ERR, link->sentinel->log, 0,
                          "wxauth: could not connect to sentinel %V: %s",
                          &ngx_http_wxauth_sentinel_addr(link)->name,
                          ac->errstr ? ac->errstr : "unknown error");
            link->failure_logged = 1;
        }

        return;   /* hiredis frees the context; the cleanup hook moves on */
    }

    /* commands queued while connecting: flush them */
    ngx_http_wxauth_hiredis_add_write(&link->h);
}


/* the reply to AUTH (sentinel_password=) on either link */
static void
ngx_http_wxauth_sentinel_auth_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    redisReply                       *r;
    ngx_http_wxauth_sentinel_link_t  *link;

    link = static_cast<ngx_http_wxauth_sentinel_link_t *>(privdata);
    r = static_cast<redisReply *>(reply);

    if (r == NULL || r->type != REDIS_REPLY_ERROR) {
        return;
    }

    /* the sentinel's own message: never contains the password */
    ngx_log_error(NGX_LOG_ERR, link->sentinel->log, 0,
                  "wxauth: sentinel %V refused AUTH: %*s",
                  &ngx_http_wxauth_sentinel_addr(link)->name,
                  (size_t) ngx_min(r->len, 256), r->str);
    link->failure_logged = 1;

    redisAsyncFree(ac);   /* deferred until this callback returns */
}


static ngx_int_t
ngx_http_wxauth_sentinel_connect(ngx_http_wxauth_sentinel_link_t *link)
{
    const char                       *argv[2];
    size_t                            argvlen[2];
    redisAsyncContext                *ac;
    ngx_http_wxauth_sentinel_t       *s;
    ngx_http_wxauth_sentinel_addr_t  *addr;

    s = link->sentinel;
    addr = ngx_http_wxauth_sentinel_addr(link);

    ac = redisAsyncConnect((const char *) addr->host.data, (int) addr->port);

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "wxauth: could not allocate a redis context for sentinel %V",
                      &addr->name);
        return NGX_ERROR;
    }

    if (ac->err) {
        if (!link->failure_logged) {
            ngx_log_error(NGX_LOG_ERR, s->log, 0, "wxauth: could not connect to sentinel %V: %s",
                          &addr->name, ac->errstr);
            link->failure_logged = 1;
        }

        redisAsyncFree(ac);   /* no hooks yet: nothing else runs */
        return NGX_ERROR;
    }

    link->h.log = s->log;
    link->h.kind = "sentinel";
    link->h.name = &addr->name;
    link->h.gone = ngx_http_wxauth_sentinel_gone;

    if (ngx_http_wxauth_hiredis_attach(&link->h, ac) != NGX_OK) {
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    ac->data = link;

    redisAsyncSetConnectCallback(ac, ngx_http_wxauth_sentinel_connected);

    if (s->password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (const char *) s->password.data;
        argvlen[1] = s->password.len;
        redisAsyncCommandArgv(ac, ngx_http_wxauth_sentinel_auth_reply, link, 2, argv, argvlen);
    }

    return NGX_OK;
}


/* a sentinel named the master: follow it unless it is where the worker is already */
static void
ngx_http_wxauth_sentinel_found(ngx_http_wxauth_sentinel_t *s, const wxauth::NodeAddress &a,
    ngx_str_t *by)
{
    u_char                          *p;
    std::string                      text;
    ngx_http_wxauth_redis_server_t  *server;

    server = s->server;

    if (server->host.len == a.host.size() && server->port == a.port
        && ngx_strncmp(server->host.data, a.host.data(), a.host.size()) == 0)
    {
        return;
    }

    if (a.host.size() > NGX_SOCKADDR_STRLEN) {
        return;   /* parse_node_address allows 45 characters: never */
    }

    ngx_memcpy(server->host.data, a.host.data(), a.host.size());
    server->host.data[a.host.size()] = '\0';
    server->host.len = a.host.size();
    server->port = a.port;

    /* the name in the adapter's logs: "NAME (ip:port)" (room made by the configuration) */
    text = wxauth::to_string(a);
    p = ngx_snprintf(server->name.data + s->master_name.len,
                     NGX_SOCKADDR_STRLEN + 8, " (%*s)", text.size(), text.data());
    server->name.len = p - server->name.data;

    if (s->named.len != server->host.len || s->named_port != server->port
        || ngx_strncmp(s->named.data, server->host.data, server->host.len) != 0)
    {
        /* said when it changes: while the master is down, the same answer every 100 ms */
        ngx_log_error(NGX_LOG_INFO, s->log, 0,
                      "wxauth: sentinel %V names %s the master of \"%V\"",
                      by, text.c_str(), &s->master_name);

        ngx_memcpy(s->named.data, server->host.data, server->host.len);
        s->named.len = server->host.len;
        s->named_port = server->port;
    }

    ngx_http_wxauth_redis_follow(server);
}


static void
ngx_http_wxauth_sentinel_ask_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    std::string                       error;
    wxauth::NodeAddress               address;
    ngx_http_wxauth_sentinel_t       *s;
    ngx_http_wxauth_sentinel_link_t  *link;

    link = static_cast<ngx_http_wxauth_sentinel_link_t *>(privdata);
    s = link->sentinel;

    if (reply == NULL) {
        return;   /* lost: the cleanup hook moves on */
    }

    try {
        if (!wxauth::parse_master_addr_reply(
                wxauth::inspect_reply(static_cast<redisReply *>(reply)), address, error))
        {
            if (!link->failure_logged) {
                ngx_log_error(NGX_LOG_ERR, s->log, 0,
                              "wxauth: sentinel %V did not name the master of \"%V\": %s",
                              &ngx_http_wxauth_sentinel_addr(link)->name, &s->master_name,
                              error.c_str());
                link->failure_logged = 1;
            }

            redisAsyncFree(ac);
            return;
        }

        link->answered = 1;
        link->failure_logged = 0;
        redisAsyncFree(ac);   /* deferred until this callback returns */

        ngx_http_wxauth_sentinel_found(s, address, &ngx_http_wxauth_sentinel_addr(link)->name);

    } catch (...) {
        ngx_log_error(NGX_LOG_ALERT, s->log, 0, "wxauth: exception in a sentinel reply handler");
        redisAsyncFree(ac);
    }
}


static void
ngx_http_wxauth_sentinel_ask(ngx_http_wxauth_sentinel_t *s)
{
    const char                       *argv[3];
    size_t                            argvlen[3];
    ngx_msec_t                        timeout;
    ngx_http_wxauth_sentinel_link_t  *link;

    link = &s->ask;
    link->answered = 0;

    if (ngx_http_wxauth_sentinel_connect(link) != NGX_OK) {
        ngx_http_wxauth_sentinel_ask_gone(s);
        return;
    }

    argv[0] = "SENTINEL";
    argvlen[0] = 8;
    argv[1] = "get-master-addr-by-name";
    argvlen[1] = 23;
    argv[2] = (const char *) s->master_name.data;
    argvlen[2] = s->master_name.len;
    redisAsyncCommandArgv(link->h.ac, ngx_http_wxauth_sentinel_ask_reply, link, 3, argv,
                          argvlen);

    timeout = ngx_max(s->server->liveness, NGX_HTTP_WXAUTH_SENTINEL_ASK_TIMEOUT);
    ngx_add_timer(&link->timer, timeout);
}


static void
ngx_http_wxauth_sentinel_ask_timer(ngx_event_t *ev)
{
    ngx_http_wxauth_sentinel_t  *s;

    s = static_cast<ngx_http_wxauth_sentinel_t *>(ev->data);

    if (s->exiting) {
        return;
    }

    if (s->ask.h.ac != NULL) {
        ngx_log_error(NGX_LOG_ERR, s->log, NGX_ETIMEDOUT,
                      "wxauth: sentinel %V did not answer in time",
                      &ngx_http_wxauth_sentinel_addr(&s->ask)->name);
        redisAsyncFree(s->ask.h.ac);   /* the cleanup hook moves on */
        return;
    }

    /* the pause before the next try: still needed unless the master is known meanwhile */
    if (s->server->host.len == 0) {
        ngx_http_wxauth_sentinel_ask(s);
    }
}


static void
ngx_http_wxauth_sentinel_sub_message(redisAsyncContext *ac, void *reply, void *privdata)
{
    std::string                       payload;
    wxauth::ReplyView                 view;
    wxauth::NodeAddress               to;
    ngx_http_wxauth_sentinel_t       *s;
    ngx_http_wxauth_sentinel_link_t  *link;

    (void) ac;

    link = static_cast<ngx_http_wxauth_sentinel_link_t *>(privdata);
    s = link->sentinel;

    if (reply == NULL) {
        return;   /* lost: the cleanup hook moves on */
    }

    try {
        view = wxauth::inspect_reply(static_cast<redisReply *>(reply));

        if (view.array && !view.elements.empty() && view.elements[0].text == "subscribe") {
            ngx_log_error(NGX_LOG_INFO, s->log, 0,
                          "wxauth: subscribed to +switch-master on sentinel %V",
                          &ngx_http_wxauth_sentinel_addr(link)->name);
            link->failure_logged = 0;

            if (link->lost) {
                /* a switch may have come while no subscription was there: ask again */
                link->lost = 0;
                ngx_http_wxauth_sentinel_discover(s->server);
            }

            link->lost = 1;   /* from now on, losing it may lose a switch */
            return;
        }

        if (!wxauth::parse_pubsub_message(view, "+switch-master", payload)
            || !wxauth::parse_switch_master(payload, ngx_http_wxauth_sv(s->master_name), to))
        {
            return;   /* another master's switch */
        }

        ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                      "wxauth: sentinel %V: +switch-master %*s",
                      &ngx_http_wxauth_sentinel_addr(link)->name,
                      ngx_min(payload.size(), (size_t) 256), payload.data());

        ngx_http_wxauth_sentinel_found(s, to, &ngx_http_wxauth_sentinel_addr(link)->name);

    } catch (...) {
        ngx_log_error(NGX_LOG_ALERT, s->log, 0, "wxauth: exception in a sentinel message handler");
    }
}


static void
ngx_http_wxauth_sentinel_subscribe(ngx_http_wxauth_sentinel_t *s)
{
    const char                       *argv[2];
    size_t                            argvlen[2];
    ngx_http_wxauth_sentinel_link_t  *link;

    link = &s->sub;

    if (ngx_http_wxauth_sentinel_connect(link) != NGX_OK) {
        ngx_http_wxauth_sentinel_sub_gone(s);
        return;
    }

    argv[0] = "SUBSCRIBE";
    argvlen[0] = 9;
    argv[1] = "+switch-master";
    argvlen[1] = 14;
    redisAsyncCommandArgv(link->h.ac, ngx_http_wxauth_sentinel_sub_message, link, 2, argv,
                          argvlen);
}


static void
ngx_http_wxauth_sentinel_sub_timer(ngx_event_t *ev)
{
    ngx_http_wxauth_sentinel_t  *s;

    s = static_cast<ngx_http_wxauth_sentinel_t *>(ev->data);

    if (s->exiting || s->sub.h.ac != NULL) {
        return;
    }

    ngx_http_wxauth_sentinel_subscribe(s);
}


void
ngx_http_wxauth_sentinel_discover(ngx_http_wxauth_redis_server_t *server)
{
    ngx_http_wxauth_sentinel_t  *s;

    s = server->sentinel;

    if (s == NULL || s->log == NULL || s->exiting) {
        return;
    }

    if (s->ask.h.ac != NULL || s->ask.timer.timer_set) {
        return;   /* asking already, or pausing between rounds */
    }

    ngx_http_wxauth_sentinel_ask(s);
}


void
ngx_http_wxauth_sentinel_forget(ngx_http_wxauth_redis_server_t *server)
{
    ngx_http_wxauth_sentinel_t  *s;

    s = server->sentinel;

    if (s == NULL) {
        return;
    }

    /* the name keeps the last address, for the logs of what follows */
    server->host.len = 0;
    server->port = 0;

    /*
     * The address did not work out: the next question goes to the next sentinel. Right after
     * a failover only the leader knows the new master for up to 2 s (the others learn it
     * from its hello messages): asking round the sentinels finds it.
     */
    if (s->ask.h.ac == NULL) {
        s->ask.index = wxauth::next_sentinel(s->ask.index, s->addrs.nelts);
    }
}


void
ngx_http_wxauth_sentinel_confirmed(ngx_http_wxauth_redis_server_t *server)
{
    ngx_http_wxauth_sentinel_t  *s;

    s = server->sentinel;

    if (s == NULL) {
        return;
    }

    if (s->confirmed.len == server->host.len && s->confirmed_port == server->port
        && ngx_strncmp(s->confirmed.data, server->host.data, server->host.len) == 0)
    {
        return;
    }

    if (s->confirmed.len) {
        ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                      "wxauth: following the failover of \"%V\" from %V:%i to %V",
                      &s->master_name, &s->confirmed, s->confirmed_port, &server->name);
        ngx_http_wxauth_metric_inc(wxauth::Metric::redis_failovers);

    } else {
        ngx_log_error(NGX_LOG_INFO, s->log, 0, "wxauth: the master of \"%V\" is %V",
                      &s->master_name, &server->name);
    }

    ngx_memcpy(s->confirmed.data, server->host.data, server->host.len);
    s->confirmed.len = server->host.len;
    s->confirmed_port = server->port;
}


ngx_int_t
ngx_http_wxauth_sentinel_init_worker(ngx_http_wxauth_redis_server_t *server, ngx_log_t *log)
{
    ngx_http_wxauth_sentinel_t  *s;

    s = server->sentinel;

    s->log = log;
    s->exiting = 0;

    s->ask.sentinel = s;
    ngx_http_wxauth_background_timer(&s->ask.timer, ngx_http_wxauth_sentinel_ask_timer, s, log);

    s->sub.sentinel = s;
    ngx_http_wxauth_background_timer(&s->sub.timer, ngx_http_wxauth_sentinel_sub_timer, s, log);

    ngx_http_wxauth_sentinel_subscribe(s);

    return NGX_OK;
}


void
ngx_http_wxauth_sentinel_exit_worker(ngx_http_wxauth_redis_server_t *server)
{
    ngx_http_wxauth_sentinel_t  *s;

    s = server->sentinel;

    if (s == NULL || s->log == NULL) {
        return;
    }

    s->exiting = 1;

    if (s->ask.timer.timer_set) {
        ngx_del_timer(&s->ask.timer);
    }

    if (s->sub.timer.timer_set) {
        ngx_del_timer(&s->sub.timer);
    }

    if (s->ask.h.ac != NULL) {
        redisAsyncFree(s->ask.h.ac);
    }

    if (s->sub.h.ac != NULL) {
        redisAsyncFree(s->sub.h.ac);
    }
}


char *
ngx_http_wxauth_sentinel_parse(ngx_conf_t *cf, ngx_http_wxauth_redis_server_t *server,
    ngx_str_t *master_name, ngx_str_t *addresses, ngx_uint_t naddresses,
    ngx_str_t *sentinel_password)
{
    u_char                           *p;
    size_t                            len;
    ngx_uint_t                        i, k;
    ngx_url_t                         u;
    ngx_http_wxauth_sentinel_t       *s;
    ngx_http_wxauth_sentinel_addr_t  *addr;

    for (k = 0; k < master_name->len; k++) {
        if (master_name->data[k] <= ' ' || master_name->data[k] == 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid master name \"%V\" in \"wxauth_redis_sentinel\"",
                               master_name);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    }

    s = static_cast<ngx_http_wxauth_sentinel_t *>(
            ngx_pcalloc(cf->pool, sizeof(ngx_http_wxauth_sentinel_t)));
    if (s == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (ngx_array_init(&s->addrs, cf->pool, naddresses, sizeof(ngx_http_wxauth_sentinel_addr_t))
        != NGX_OK)
    {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    s->master_name.data = static_cast<u_char *>(ngx_pnalloc(cf->pool, master_name->len + 1));
    if (s->master_name.data == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    ngx_memcpy(s->master_name.data, master_name->data, master_name->len);
    s->master_name.data[master_name->len] = '\0';
    s->master_name.len = master_name->len;

    s->password = *sentinel_password;
    s->server = server;

    for (i = 0; i < naddresses; i++) {

        if (addresses[i].len >= 5 && ngx_strncmp(addresses[i].data, "unix:", 5) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid sentinel address \"%V\": a sentinel is host[:port]",
                               &addresses[i]);
            return static_cast<char *>(NGX_CONF_ERROR);
        }

        /* resolve now, in the master, so that a worker never calls getaddrinfo */

        ngx_memzero(&u, sizeof(ngx_url_t));
        u.url = addresses[i];
        u.default_port = NGX_HTTP_WXAUTH_SENTINEL_PORT;

        if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
            if (u.err) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in sentinel address \"%V\"",
                                   u.err, &addresses[i]);
            }

            return static_cast<char *>(NGX_CONF_ERROR);
        }

        if (u.naddrs == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "sentinel host \"%V\" has no address",
                               &u.host);
            return static_cast<char *>(NGX_CONF_ERROR);
        }

        if (u.naddrs > 1) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "sentinel host \"%V\" has %ui addresses, using the first one",
                               &u.host, u.naddrs);
        }

        addr = static_cast<ngx_http_wxauth_sentinel_addr_t *>(ngx_array_push(&s->addrs));
        if (addr == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }

        p = static_cast<u_char *>(ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1));
        if (p == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }

        len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, p, NGX_SOCKADDR_STRLEN, 0);
        p[len] = '\0';

        addr->name = addresses[i];
        addr->host.data = p;
        addr->host.len = len;
        addr->port = ngx_inet_get_port(u.addrs[0].sockaddr);
    }

    /* the worker's current master: unknown until a sentinel names it */

    server->host.data = static_cast<u_char *>(ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1));
    server->name.data = static_cast<u_char *>(
                            ngx_pnalloc(cf->pool, master_name->len + NGX_SOCKADDR_STRLEN + 8));
    s->confirmed.data = static_cast<u_char *>(ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1));
    s->named.data = static_cast<u_char *>(ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1));

    if (server->host.data == NULL || server->name.data == NULL || s->confirmed.data == NULL
        || s->named.data == NULL)
    {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    server->host.len = 0;
    ngx_memcpy(server->name.data, master_name->data, master_name->len);
    server->name.len = master_name->len;

    server->sentinel = s;

    return NGX_CONF_OK;
}

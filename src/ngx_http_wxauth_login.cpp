/*
 * The login location: reads the `code`, exchanges it at WeChat's jscode2session through an
 * in-memory subrequest, stores a new session in Redis and answers with the session token.
 *
 *   body read -> subrequest -> (parent resumed) parse -> Redis SET -> answer
 */

#include "ngx_http_wxauth_module.h"
#include "ngx_http_wxauth_redis.h"
#include "ngx_http_wxauth_metrics.h"

#include <ctime>

#include "core/login_request.h"
#include "core/session.h"
#include "core/token.h"
#include "core/wechat.h"


#define NGX_HTTP_WXAUTH_MAX_LOGIN_BODY  4096


static void
ngx_http_wxauth_login_finish(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    wxauth::Error err)
{
    ngx_http_wxauth_restore_log(r);
    ngx_http_wxauth_refuse(r, ctx, err);
}


/* the login is stored (and the user's older sessions ended): answer with the token */
static void
ngx_http_wxauth_login_answer(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx)
{
    std::string body = "{\"session\":\"" + std::string(ngx_http_wxauth_sv(ctx->login.token))
                       + "\",\"expires_in\":" + std::to_string(ctx->login.expires_in) + "}";

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "wxauth: login succeeded for app \"%V\"", &ctx->appid);

    ngx_http_wxauth_answer(r, body.data(), body.size());
}


/* single session: the DELs of the user's older sessions answered (core: end_sessions_result) */
static void
ngx_http_wxauth_login_ended(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    ngx_uint_t outcome, const std::vector<wxauth::ReplyView> &replies)
{
    if (outcome != NGX_HTTP_WXAUTH_REDIS_OK) {
        ngx_http_wxauth_login_finish(r, ctx, wxauth::Error::store_unavailable);
        return;
    }

    wxauth::LoginResult res = wxauth::end_sessions_result(replies, ctx->login.ending);

    if (res.log) {
        ngx_http_wxauth_log_note(r, *res.log);
    }

    if (res.error) {
        ngx_http_wxauth_login_finish(r, ctx, *res.error);
        return;
    }

    ngx_http_wxauth_login_answer(r, ctx);
}


/* The session's batch answered (core: login_result). */
static void
ngx_http_wxauth_login_stored(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    ngx_uint_t outcome, const std::vector<wxauth::ReplyView> &replies)
{
    ngx_http_wxauth_loc_conf_t  *wlcf;

    wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(
               ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module));

    if (outcome != NGX_HTTP_WXAUTH_REDIS_OK) {
        ngx_http_wxauth_login_finish(r, ctx, wxauth::Error::store_unavailable);
        return;
    }

    wxauth::LoginResult res = wxauth::login_result(
        replies, wxauth::login_command_count(wlcf->single_session),
        ngx_http_wxauth_sv(wlcf->redis_prefix));

    if (res.log) {
        ngx_http_wxauth_log_note(r, *res.log);
    }

    if (res.error) {
        ngx_http_wxauth_login_finish(r, ctx, *res.error);
        return;
    }

    if (ctx->login.waits) {
        /* wxauth_login_replicas: every node that took a write has N replicas with it */
        wxauth::LoginResult acked = wxauth::replication_result(
            replies, wxauth::login_command_count(wlcf->single_session), ctx->login.waits,
            (long long) wlcf->login_replicas, (long long) wlcf->login_replicas_wait);

        if (acked.log) {
            ngx_http_wxauth_log_note(r, *acked.log);
        }

        if (acked.error) {
            ngx_http_wxauth_login_finish(r, ctx, *acked.error);
            return;
        }
    }

    if (!res.ended.empty()) {
        /*
         * Single session: the script emptied the user's set (only that key: valid in Redis
         * Cluster); the older sessions themselves are deleted now, each on its own node, and
         * the login answers once they are gone.
         */
        ctx->login.ending = res.ended.size();

        if (ngx_http_wxauth_redis_step(r, ctx, wxauth::end_sessions_commands(res.ended),
                                       ngx_http_wxauth_login_ended)
            != NGX_AGAIN)
        {
            ngx_http_wxauth_login_finish(r, ctx, wxauth::Error::store_unavailable);
        }

        return;
    }

    ngx_http_wxauth_login_answer(r, ctx);
}


static void
ngx_http_wxauth_login_store(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    ngx_http_wxauth_loc_conf_t *wlcf, const wxauth::Code2SessionResult &res)
{
    wxauth::LoginPolicy  policy;

    policy.prefix = ngx_http_wxauth_sv(wlcf->redis_prefix);
    policy.appid = ngx_http_wxauth_sv(wlcf->appid);
    policy.ttl = (std::int64_t) wlcf->session_ttl;
    policy.renew = wlcf->session_renew ? true : false;
    policy.max_lifetime = (std::int64_t) wlcf->session_max_lifetime;
    policy.single_session = wlcf->single_session ? true : false;

    std::string token = wxauth::generate_token();
    wxauth::LoginPlan plan = wxauth::login_commands(policy, token, res, (std::int64_t) ngx_time());

    if (ngx_http_wxauth_copy_str(r->pool, &ctx->login.token, token.data(), token.size()) != NGX_OK
        || ngx_http_wxauth_copy_str(r->pool, &ctx->openid, plan.record.openid.data(),
                                    plan.record.openid.size()) != NGX_OK
        || ngx_http_wxauth_copy_str(r->pool, &ctx->unionid, plan.record.unionid.data(),
                                    plan.record.unionid.size()) != NGX_OK)
    {
        ngx_http_wxauth_login_finish(r, ctx, wxauth::Error::internal_error);
        return;
    }

    ctx->appid = wlcf->appid;
    ctx->login.expires_in = plan.expires_in;

    /*
     * One pipelined batch: the session, the user's newest session_key, and the policy; with
     * wxauth_login_replicas, a WAIT on each connection that took a write.
     */
    if (ngx_http_wxauth_redis_step_replicated(r, ctx, plan.commands, &ctx->login.waits,
                                              ngx_http_wxauth_login_stored)
        != NGX_AGAIN)
    {
        ngx_http_wxauth_login_finish(r, ctx, wxauth::Error::store_unavailable);
    }
}


/* the parent request, woken up once the WeChat subrequest is done */
static void
ngx_http_wxauth_login_resume(ngx_http_request_t *r)
{
    ngx_buf_t                   *b;
    ngx_http_request_t          *sr;
    ngx_http_wxauth_ctx_t       *ctx;
    ngx_http_wxauth_loc_conf_t  *wlcf;

    ctx = static_cast<ngx_http_wxauth_ctx_t *>(ngx_http_get_module_ctx(r, ngx_http_wxauth_module));

    if (ctx == NULL || !ctx->login.sr_done || ctx->pending) {
        return;
    }

    wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(
               ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module));
    sr = ctx->login.sr;

    ngx_http_wxauth_restore_log(r);

    if (ctx->login.sr_rc == NGX_HTTP_GATEWAY_TIME_OUT || ctx->login.sr_status == NGX_HTTP_GATEWAY_TIME_OUT) {
        ngx_http_wxauth_metric_inc(wxauth::Metric::wx_timeout);
        ngx_http_wxauth_login_finish(r, ctx, wxauth::Error::wechat_timeout);
        return;
    }

    if (ctx->login.sr_failed && ctx->login.sr_timed_out) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "wxauth: the code2session location timed out reading WeChat's answer");
        ngx_http_wxauth_metric_inc(wxauth::Metric::wx_timeout);
        ngx_http_wxauth_login_finish(r, ctx, wxauth::Error::wechat_timeout);
        return;
    }

    if (ctx->login.sr_failed) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "wxauth: the code2session location gave no usable answer (too large for "
                      "subrequest_output_buffer_size, malformed, or cut off)");
        ngx_http_wxauth_metric_inc(wxauth::Metric::wx_http_error);
        ngx_http_wxauth_login_finish(r, ctx, wxauth::Error::wechat_unavailable);
        return;
    }

    if (ctx->login.sr_rc == NGX_ERROR || ctx->login.sr_rc >= NGX_HTTP_SPECIAL_RESPONSE
        || ctx->login.sr_status < 200 || ctx->login.sr_status > 299)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "wxauth: the code2session location answered with status %ui",
                      ctx->login.sr_status ? ctx->login.sr_status : (ngx_uint_t) ctx->login.sr_rc);
        ngx_http_wxauth_metric_inc(wxauth::Metric::wx_http_error);
        ngx_http_wxauth_login_finish(r, ctx, wxauth::Error::wechat_unavailable);
        return;
    }

    try {
        std::string_view body;

        if (sr->out && sr->out->buf) {
            b = sr->out->buf;
            body = std::string_view(reinterpret_cast<const char *>(b->pos), b->last - b->pos);
        }

        wxauth::Code2SessionResult res = wxauth::parse_code2session(body);

        switch (res.kind) {

        case wxauth::Code2SessionResult::Kind::ok:
            ngx_http_wxauth_metric_inc(wxauth::wx_errcode_metric(0));
            ngx_http_wxauth_login_store(r, ctx, wlcf, res);
            return;

        case wxauth::Code2SessionResult::Kind::wx_error:
            ctx->login.wx_errcode = res.errcode;
            ctx->login.has_wx_errcode = 1;
            ngx_http_wxauth_metric_inc(wxauth::wx_errcode_metric(res.errcode));

            if (wxauth::wx_errcode_is_misconfiguration(res.errcode)) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "wxauth: WeChat refused appid \"%V\" or its secret "
                              "(errcode %l): check wxauth_appid and wxauth_secret",
                              &wlcf->appid, res.errcode);
            }

            ngx_http_wxauth_login_finish(r, ctx, wxauth::map_wx_errcode(res.errcode));
            return;

        default:
            ngx_http_wxauth_metric_inc(wxauth::Metric::wx_bad_response);
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "wxauth: unusable answer from WeChat: %s", res.reason.c_str());
            ngx_http_wxauth_login_finish(r, ctx, wxauth::Error::wechat_unavailable);
            return;
        }

    } catch (...) {
        ngx_http_wxauth_login_finish(r, ctx, wxauth::Error::internal_error);
    }
}


/*
 * The client went away: its connection closed, reset or timed out, or (HTTP/2) its stream was
 * reset, which nginx reports by finalizing the subrequest with 499 and c->error alone.
 */
static bool
ngx_http_wxauth_client_failed(ngx_http_request_t *sr, ngx_int_t rc)
{
    ngx_connection_t  *c = sr->connection;

    if (rc == NGX_HTTP_CLIENT_CLOSED_REQUEST || rc == NGX_HTTP_REQUEST_TIME_OUT) {
        return true;
    }

#if (NGX_HTTP_V2)
    if (sr->main->stream && (sr->main->stream->rst_sent || sr->main->stream->out_closed)) {
        return true;
    }
#endif

    return c->read->eof || c->read->error || c->write->error || c->timedout || c->close;
}


/*
 * After the headers, nginx reports an upstream timeout as NGX_ERROR like any other failure.
 * Before 1.25.4 the event pipe still knows the (just closed, not yet reused) upstream
 * connection, whose read event tells whether its timer fired. Since 1.25.4
 * ngx_http_upstream_finalize_request() clears p->upstream when it closes that connection
 * ("Upstream: fixed usage of closed sockets with filter finalization"); what is left is
 * p->upstream_error, set by the read timeout (or by a failed recv(), such as a reset).
 */
static bool
ngx_http_wxauth_upstream_timed_out(ngx_http_request_t *sr)
{
    ngx_http_upstream_t  *u = sr->upstream;

    if (u == NULL || u->pipe == NULL) {
        return false;
    }

#if (nginx_version >= 1025004)
    return u->pipe->upstream == NULL && u->pipe->upstream_error;
#else
    return u->pipe->upstream != NULL && u->pipe->upstream->read->timedout;
#endif
}


static ngx_int_t
ngx_http_wxauth_login_sr_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    bool                    timed_out;
    ngx_connection_t       *c = sr->connection;
    ngx_http_wxauth_ctx_t  *ctx = static_cast<ngx_http_wxauth_ctx_t *>(data);

    /* may be called more than once (an error page follows an upstream failure) */

    ctx->login.sr_done = 1;

    /*
     * A WeChat answer that does not fit subrequest_output_buffer_size, broken chunked framing,
     * a body cut off or stalled after the headers: nginx ends the subrequest with NGX_ERROR
     * (a stalled body even with NGX_OK and what arrived of it),
     * and a failing output filter of the in-memory subrequest marks the shared client
     * connection as failed (c->error), which would terminate the whole request unanswered.
     * The client's connection itself is fine (the subrequest never writes to it): the login
     * answers 502 (504 for a timeout) itself. Only a real failure of the client's connection
     * ends the request unanswered.
     */
    timed_out = ngx_http_wxauth_upstream_timed_out(sr);

    if ((rc == NGX_ERROR || c->error || timed_out) && !ngx_http_wxauth_client_failed(sr, rc)) {
        ctx->login.sr_failed = 1;
        ctx->login.sr_timed_out = timed_out ? 1 : 0;
        c->error = 0;
        rc = NGX_OK;
    }

    if (ctx->login.sr_rc == NGX_OK || ctx->login.sr_rc == NGX_DONE) {
        ctx->login.sr_rc = rc;
    }

    if (ctx->login.sr_status == 0 || ctx->login.sr_status == NGX_HTTP_OK) {
        ctx->login.sr_status = sr->headers_out.status;
    }

    return rc;
}


static ngx_int_t
ngx_http_wxauth_login_start(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    ngx_http_wxauth_loc_conf_t *wlcf, const std::string &code)
{
    ngx_str_t                    args;
    ngx_http_request_t          *sr;
    ngx_http_post_subrequest_t  *ps;

    std::string a = wxauth::code2session_args(ngx_http_wxauth_sv(wlcf->appid),
                                              ngx_http_wxauth_sv(wlcf->secret), code);

    if (ngx_http_wxauth_copy_str(r->pool, &args, a.data(), a.size()) != NGX_OK) {
        return NGX_ERROR;
    }

    ps = static_cast<ngx_http_post_subrequest_t *>(
             ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t)));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_wxauth_login_sr_done;
    ps->data = ctx;

    ngx_http_wxauth_hide_secret_in_log(r);

    if (ngx_http_subrequest(r, &wlcf->code2session, &args, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY|NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * The subrequest would inherit the client's headers and body (cookies, Content-Length of
     * the login POST): WeChat gets a clean GET instead.
     */

    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 1, sizeof(ngx_table_elt_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    sr->headers_in.content_length_n = -1;
    sr->headers_in.keep_alive_n = -1;
    sr->request_body = NULL;
    sr->header_only = 0;

    ctx->login.sr = sr;

    r->write_event_handler = ngx_http_wxauth_login_resume;

    return NGX_OK;
}


static void
ngx_http_wxauth_login_body(ngx_http_request_t *r)
{
    ngx_http_wxauth_ctx_t       *ctx;
    ngx_http_wxauth_loc_conf_t  *wlcf;

    ctx = static_cast<ngx_http_wxauth_ctx_t *>(ngx_http_get_module_ctx(r, ngx_http_wxauth_module));
    wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(
               ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module));

    try {
        std::string body, code, content_type;

        if (ngx_http_wxauth_request_body(r, NGX_HTTP_WXAUTH_MAX_LOGIN_BODY, body) != NGX_OK) {
            ngx_http_wxauth_login_finish(r, ctx, wxauth::Error::invalid_request);
            return;
        }

        if (r->headers_in.content_type) {
            content_type = std::string(ngx_http_wxauth_sv(r->headers_in.content_type->value));
        }

        if (wxauth::parse_login_code(content_type, body, code) != wxauth::LoginParse::ok) {
            ngx_http_wxauth_login_finish(r, ctx, wxauth::Error::invalid_request);
            return;
        }

        if (ngx_http_wxauth_login_start(r, ctx, wlcf, code) != NGX_OK) {
            ngx_http_wxauth_login_finish(r, ctx, wxauth::Error::internal_error);
            return;
        }

    } catch (...) {
        ngx_http_wxauth_login_finish(r, ctx, wxauth::Error::internal_error);
    }
}


ngx_int_t
ngx_http_wxauth_login_handler(ngx_http_request_t *r)
{
    if (!(r->method & NGX_HTTP_POST)) {
        wxauth::Error  err = wxauth::Error::method_not_allowed;

        ngx_http_wxauth_count_outcome(r, &err);
        return ngx_http_wxauth_send_not_allowed(r, "POST");
    }

    if (r->headers_in.content_length_n > NGX_HTTP_WXAUTH_MAX_LOGIN_BODY) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            r->keepalive = 0;
        }

        wxauth::Error  err = wxauth::Error::invalid_request;

        ngx_http_wxauth_count_outcome(r, &err);
        return ngx_http_wxauth_send_error(r, wxauth::Error::invalid_request, 0, 0);
    }

    return ngx_http_wxauth_read_body(r, ngx_http_wxauth_login_body);
}

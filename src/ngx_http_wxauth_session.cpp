/*
 * The session check: an access-phase handler that reads the caller's token, looks it up in
 * Redis without blocking, and either lets the request on with the identity in $wxauth_*
 * variables or answers with a JSON error.
 */

#include "ngx_http_wxauth_module.h"
#include "ngx_http_wxauth_redis.h"
#include "ngx_http_wxauth_metrics.h"

#include "core/session.h"
#include "core/token.h"


static ngx_str_t  ngx_http_wxauth_default_header = ngx_string("X-WX-Session");


ngx_int_t
ngx_http_wxauth_read_token(ngx_http_request_t *r, ngx_http_wxauth_loc_conf_t *wlcf,
    ngx_str_t *token)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (wlcf->token) {
        return ngx_http_complex_value(r, wlcf->token, token);
    }

    ngx_str_null(token);

    part = &r->headers_in.headers.part;
    h = static_cast<ngx_table_elt_t *>(part->elts);

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = static_cast<ngx_table_elt_t *>(part->elts);
            i = 0;
        }

        if (h[i].hash == 0 || h[i].key.len != ngx_http_wxauth_default_header.len) {
            continue;
        }

        if (ngx_strncasecmp(h[i].key.data, ngx_http_wxauth_default_header.data,
                            ngx_http_wxauth_default_header.len) == 0)
        {
            *token = h[i].value;
            break;
        }
    }

    return NGX_OK;
}


static ngx_flag_t
ngx_http_wxauth_app_allowed(ngx_http_wxauth_loc_conf_t *wlcf, std::string_view appid)
{
    ngx_str_t   *app;
    ngx_uint_t   i;

    if (wlcf->allowed_apps == NULL) {
        return 1;
    }

    app = static_cast<ngx_str_t *>(wlcf->allowed_apps->elts);

    for (i = 0; i < wlcf->allowed_apps->nelts; i++) {
        if (ngx_http_wxauth_sv(app[i]) == appid) {
            return 1;
        }
    }

    return 0;
}


/* sliding expiry: at most one fire-and-forget write per half lifetime of a session in use */
static void
ngx_http_wxauth_session_renew(ngx_http_request_t *r, ngx_http_wxauth_loc_conf_t *wlcf,
    ngx_http_wxauth_ctx_t *ctx, const wxauth::SessionRecord &rec, const wxauth::ReplyView &pttl)
{
    std::int64_t  expiry;

    if (pttl.outcome != wxauth::ReplyOutcome::integer) {
        return;
    }

    expiry = wxauth::renewal_expiry(rec, pttl.integer, (std::int64_t) ngx_time());
    if (expiry == 0) {
        return;
    }

    std::string seconds = std::to_string(expiry);
    std::string_view prefix = ngx_http_wxauth_sv(wlcf->redis_prefix);

    /*
     * The user's newest session_key, and the set of the user's sessions a single-session
     * login keeps, must live as long as the session: the next login could not end a session
     * that outlived the set.
     */
    std::vector<ngx_http_wxauth_redis_cmd_t> cmds{
        { "EXPIRE", std::string(ngx_http_wxauth_sv(ctx->storage_key)), seconds },
        { "EXPIRE", wxauth::latest_key_storage_key(prefix, rec.appid, rec.openid), seconds,
          "GT" },
        { "EXPIRE", wxauth::user_sessions_storage_key(prefix, rec.appid, rec.openid), seconds,
          "GT" }
    };

    if (ngx_http_wxauth_redis_send(wlcf->redis, wlcf->redis_timeout, cmds, NULL, NULL) != NULL) {
        ngx_http_wxauth_metric_inc(wxauth::Metric::session_renewed);
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "wxauth: session renewed for %L s", (int64_t) expiry);
    }
}


static void
ngx_http_wxauth_session_looked_up(void *data, ngx_uint_t outcome,
    const std::vector<wxauth::ReplyView> &replies)
{
    ngx_connection_t            *c;
    ngx_http_request_t          *r;
    ngx_http_wxauth_ctx_t       *ctx;
    ngx_http_wxauth_loc_conf_t  *wlcf;
    wxauth::SessionRecord        rec;

    r = static_cast<ngx_http_request_t *>(data);
    c = r->connection;
    ctx = static_cast<ngx_http_wxauth_ctx_t *>(ngx_http_get_module_ctx(r, ngx_http_wxauth_module));
    wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(
               ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module));

    ctx->pending = NULL;
    ctx->state = NGX_HTTP_WXAUTH_FAILED;

    if (outcome != NGX_HTTP_WXAUTH_REDIS_OK) {
        ctx->error = wxauth::Error::store_unavailable;

    } else if (replies[0].outcome == wxauth::ReplyOutcome::nil) {
        ctx->error = wxauth::Error::session_expired;

    } else if (replies[0].outcome != wxauth::ReplyOutcome::value) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0, "wxauth: redis answered the session lookup with "
                      "an error: %s", replies[0].text.c_str());
        ctx->error = wxauth::Error::store_unavailable;

    } else if (!wxauth::decode_session(replies[0].text, rec)) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0, "wxauth: unreadable session record in redis, "
                      "the session is treated as expired");
        ctx->error = wxauth::Error::session_expired;

    } else if (!ngx_http_wxauth_app_allowed(wlcf, rec.appid)) {
        ctx->error = wxauth::Error::app_not_allowed;

    } else if (ngx_http_wxauth_copy_str(r->pool, &ctx->openid, rec.openid.data(),
                                        rec.openid.size()) != NGX_OK
               || ngx_http_wxauth_copy_str(r->pool, &ctx->unionid, rec.unionid.data(),
                                           rec.unionid.size()) != NGX_OK
               || ngx_http_wxauth_copy_str(r->pool, &ctx->appid, rec.appid.data(),
                                           rec.appid.size()) != NGX_OK
               || ngx_http_wxauth_copy_str(r->pool, &ctx->session_key, rec.session_key.data(),
                                           rec.session_key.size()) != NGX_OK)
    {
        ctx->error = wxauth::Error::internal_error;

    } else {
        ctx->state = NGX_HTTP_WXAUTH_PASSED;
        ngx_http_wxauth_session_renew(r, wlcf, ctx, rec, replies[1]);
    }

    ctx->next(r);
}


static void
ngx_http_wxauth_session_looked_up_safe(void *data, ngx_uint_t outcome,
    const std::vector<wxauth::ReplyView> &replies)
{
    ngx_http_request_t     *r = static_cast<ngx_http_request_t *>(data);
    ngx_http_wxauth_ctx_t  *ctx;

    try {
        ngx_http_wxauth_session_looked_up(data, outcome, replies);

    } catch (...) {
        ctx = static_cast<ngx_http_wxauth_ctx_t *>(
                  ngx_http_get_module_ctx(r, ngx_http_wxauth_module));
        ctx->pending = NULL;
        ctx->state = NGX_HTTP_WXAUTH_FAILED;
        ctx->error = wxauth::Error::internal_error;
        ctx->next(r);
    }
}


/*
 * Loads the caller's session. Returns NGX_AGAIN when `next` will be called once Redis answers,
 * NGX_DONE when the outcome is known at once (ctx->state; `next` is not called).
 */
ngx_int_t
ngx_http_wxauth_session_load(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    ngx_http_wxauth_next_pt next)
{
    ngx_str_t                    token;
    ngx_http_wxauth_loc_conf_t  *wlcf;

    if (ctx->state == NGX_HTTP_WXAUTH_PASSED || ctx->state == NGX_HTTP_WXAUTH_FAILED) {
        return NGX_DONE;   /* the access phase did it already */
    }

    wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(
               ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module));

    ctx->state = NGX_HTTP_WXAUTH_FAILED;

    if (wlcf->redis == NULL) {
        ctx->error = wxauth::Error::store_unavailable;
        return NGX_DONE;
    }

    if (ngx_http_wxauth_read_token(r, wlcf, &token) != NGX_OK) {
        ctx->error = wxauth::Error::internal_error;
        return NGX_DONE;
    }

    if (token.len == 0) {
        ctx->error = wxauth::Error::missing_session;
        return NGX_DONE;
    }

    try {
        std::string_view tv = ngx_http_wxauth_sv(token);

        if (!wxauth::token_well_formed(tv)) {
            ctx->error = wxauth::Error::invalid_session;
            return NGX_DONE;
        }

        std::string key = wxauth::session_storage_key(ngx_http_wxauth_sv(wlcf->redis_prefix), tv);

        if (ngx_http_wxauth_copy_str(r->pool, &ctx->storage_key, key.data(), key.size())
            != NGX_OK)
        {
            ctx->error = wxauth::Error::internal_error;
            return NGX_DONE;
        }

        /* one round trip: the record and its remaining lifetime, pipelined */
        std::vector<ngx_http_wxauth_redis_cmd_t> cmds{ { "GET", key }, { "PTTL", key } };

        ctx->next = next;
        ctx->pending = ngx_http_wxauth_redis_send(wlcf->redis, wlcf->redis_timeout, cmds,
                                                  ngx_http_wxauth_session_looked_up_safe, r);

    } catch (...) {
        ctx->error = wxauth::Error::internal_error;
        return NGX_DONE;
    }

    if (ctx->pending == NULL) {
        ctx->error = wxauth::Error::store_unavailable;
        return NGX_DONE;
    }

    ctx->state = NGX_HTTP_WXAUTH_WAITING;
    ngx_http_wxauth_park(r);

    return NGX_AGAIN;
}


static void
ngx_http_wxauth_count_check(ngx_http_wxauth_ctx_t *ctx)
{
    wxauth::Metric  m;

    if (ctx->state == NGX_HTTP_WXAUTH_PASSED) {
        m = wxauth::Metric::check_ok;

    } else {
        switch (ctx->error) {
        case wxauth::Error::missing_session:
            m = wxauth::Metric::check_missing_session;
            break;
        case wxauth::Error::invalid_session:
            m = wxauth::Metric::check_invalid_session;
            break;
        case wxauth::Error::session_expired:
            m = wxauth::Metric::check_session_expired;
            break;
        case wxauth::Error::store_unavailable:
            m = wxauth::Metric::check_store_unavailable;
            break;
        case wxauth::Error::app_not_allowed:
            m = wxauth::Metric::check_app_not_allowed;
            break;
        default:
            m = wxauth::Metric::check_internal_error;
            break;
        }
    }

    ngx_http_wxauth_metric_inc(m);
}


/* Redis answered: go on with the phases where the access handler left them */
static void
ngx_http_wxauth_access_resume(ngx_http_request_t *r)
{
    ngx_connection_t  *c = r->connection;

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


ngx_int_t
ngx_http_wxauth_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_wxauth_ctx_t       *ctx;
    ngx_http_wxauth_loc_conf_t  *wlcf;

    wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(
               ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module));

    if (!wlcf->enable || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_wxauth_find_ctx(r);

    if (ctx == NULL || ctx->state == NGX_HTTP_WXAUTH_NEW) {
        ctx = ngx_http_wxauth_get_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_http_wxauth_session_load(r, ctx, ngx_http_wxauth_access_resume);

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        ngx_http_wxauth_count_check(ctx);

    } else if (ctx->state == NGX_HTTP_WXAUTH_WAITING) {
        return NGX_AGAIN;

    } else if (!ctx->counted) {
        ngx_http_wxauth_count_check(ctx);
    }

    ctx->counted = 1;

    if (ctx->state == NGX_HTTP_WXAUTH_PASSED) {
        /* checked before an internal redirect: the new location may accept fewer apps */
        if (!ngx_http_wxauth_app_allowed(wlcf, ngx_http_wxauth_sv(ctx->appid))) {
            return ngx_http_wxauth_refuse_in_access_phase(r, ctx,
                                                          wxauth::Error::app_not_allowed);
        }

        return NGX_OK;
    }

    /* nginx answers: an error_page, satisfy any, or the module's JSON (refusal filter) */
    return ngx_http_wxauth_refuse_in_access_phase(r, ctx, ctx->error);
}

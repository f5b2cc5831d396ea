/*
 * The session check: an access-phase handler that reads the caller's token, looks it up in
 * Redis without blocking, and either lets the request on with the identity in $wxauth_*
 * variables or answers with a JSON error.
 */

#include "ngx_http_wxauth_module.h"
#include "ngx_http_wxauth_redis.h"
#include "ngx_http_wxauth_metrics.h"
#include "ngx_http_wxauth_cache.h"

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


/* The session lookup answered (core: lookup_result). */
static void
ngx_http_wxauth_session_looked_up(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    ngx_uint_t outcome, const std::vector<wxauth::ReplyView> &replies)
{
    ngx_http_wxauth_loc_conf_t  *wlcf;

    wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(
               ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module));

    ctx->state = NGX_HTTP_WXAUTH_FAILED;

    if (outcome != NGX_HTTP_WXAUTH_REDIS_OK) {
        ctx->error = wxauth::Error::store_unavailable;
        ctx->next(r);
        return;
    }

    wxauth::LookupResult res;

    try {
        res = wxauth::lookup_result(replies, ngx_http_wxauth_sv(wlcf->redis_prefix),
                                    ngx_http_wxauth_sv(ctx->storage_key),
                                    (std::int64_t) ngx_time());
    } catch (...) {
        ctx->error = wxauth::Error::internal_error;
        ctx->next(r);
        return;
    }

    if (res.log) {
        ngx_http_wxauth_log_note(r, *res.log);
    }

    if (res.error) {
        ctx->error = *res.error;

    } else if (!ngx_http_wxauth_app_allowed(wlcf, res.record.appid)) {
        ctx->error = wxauth::Error::app_not_allowed;

    } else if (ngx_http_wxauth_copy_str(r->pool, &ctx->openid, res.record.openid.data(),
                                        res.record.openid.size()) != NGX_OK
               || ngx_http_wxauth_copy_str(r->pool, &ctx->unionid, res.record.unionid.data(),
                                           res.record.unionid.size()) != NGX_OK
               || ngx_http_wxauth_copy_str(r->pool, &ctx->appid, res.record.appid.data(),
                                           res.record.appid.size()) != NGX_OK
               || ngx_http_wxauth_copy_str(r->pool, &ctx->session_key,
                                           res.record.session_key.data(),
                                           res.record.session_key.size()) != NGX_OK)
    {
        ctx->error = wxauth::Error::internal_error;

    } else {
        ctx->state = NGX_HTTP_WXAUTH_PASSED;

        /* sliding expiry: at most one fire-and-forget write per half lifetime */
        if (!res.renewal.empty() && !ctx->no_renewal
            && ngx_http_wxauth_redis_send(wlcf->redis, wlcf->redis_timeout, res.renewal,
                                          NULL, NULL) != NULL)
        {
            ngx_http_wxauth_metric_inc(wxauth::Metric::session_renewed);
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "wxauth: session renewed for %L s", (int64_t) res.renew_seconds);
        }

        /* wxauth_session_cache: a session whose expiry is not about to change */
        if (res.renewal.empty() && wlcf->session_cache != NULL) {
            ngx_http_wxauth_cache_store(r, ctx, wlcf, res.record, replies);
        }
    }

    ctx->next(r);
}


/*
 * Loads the caller's session. Returns NGX_AGAIN when `next` will be called once Redis answers,
 * NGX_DONE when the outcome is known at once (ctx->state; `next` is not called).
 */
ngx_int_t
ngx_http_wxauth_session_load(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    ngx_http_wxauth_next_pt next)
{
    ngx_int_t                    rc;
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

        ctx->next = next;

        /* wxauth_session_cache: a hit needs no Redis command */
        if (wlcf->session_cache != NULL
            && ngx_http_wxauth_cache_lookup(r, ctx, wlcf, key) == NGX_OK)
        {
            if (!ngx_http_wxauth_app_allowed(wlcf, ngx_http_wxauth_sv(ctx->appid))) {
                ctx->error = wxauth::Error::app_not_allowed;
                ngx_str_null(&ctx->openid);
                ngx_str_null(&ctx->unionid);
                ngx_str_null(&ctx->appid);
                ngx_str_null(&ctx->session_key);

            } else {
                ctx->state = NGX_HTTP_WXAUTH_PASSED;
                ngx_http_wxauth_cache_renew(r, ctx, wlcf);
            }

            return NGX_DONE;
        }

        rc = ngx_http_wxauth_redis_step(r, ctx, wxauth::lookup_commands(key),
                                        ngx_http_wxauth_session_looked_up);

    } catch (...) {
        ctx->error = wxauth::Error::internal_error;
        return NGX_DONE;
    }

    if (rc != NGX_AGAIN) {
        ctx->error = wxauth::Error::store_unavailable;
        return NGX_DONE;
    }

    ctx->state = NGX_HTTP_WXAUTH_WAITING;

    return NGX_AGAIN;
}


static void
ngx_http_wxauth_count_check(ngx_http_wxauth_ctx_t *ctx)
{
    ngx_http_wxauth_metric_inc(ctx->state == NGX_HTTP_WXAUTH_PASSED
                               ? wxauth::success_metric(wxauth::Flow::check)
                               : wxauth::failure_metric(wxauth::Flow::check, ctx->error));
}


/* Redis answered: go on with the phases where the access handler left them */
static void
ngx_http_wxauth_access_resume(ngx_http_request_t *r)
{
    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
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

/*
 * The logout location: the caller's session is loaded the way every handler loads it (or the
 * access phase's result is used), then its record is deleted, which ends it on every node
 * sharing this Redis.
 *
 *   body read -> session load -> DEL -> answer
 */

#include "ngx_http_wxauth_module.h"
#include "ngx_http_wxauth_redis.h"


static void
ngx_http_wxauth_logout_done(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    ngx_uint_t outcome, const std::vector<wxauth::ReplyView> &replies)
{
    if (outcome != NGX_HTTP_WXAUTH_REDIS_OK) {
        ngx_http_wxauth_refuse(r, ctx, wxauth::Error::store_unavailable);
        return;
    }

    wxauth::LogoutResult res = wxauth::logout_result(replies);

    if (res.error) {
        ngx_http_wxauth_refuse(r, ctx, *res.error);
        return;
    }

    if (res.log) {
        ngx_http_wxauth_log_note(r, *res.log);
    }

    ngx_http_wxauth_answer(r, "{\"logged_out\":true}", sizeof("{\"logged_out\":true}") - 1);
}


static void
ngx_http_wxauth_logout_session(ngx_http_request_t *r)
{
    ngx_http_wxauth_ctx_t  *ctx;

    ctx = static_cast<ngx_http_wxauth_ctx_t *>(ngx_http_get_module_ctx(r, ngx_http_wxauth_module));

    if (ctx->state != NGX_HTTP_WXAUTH_PASSED) {
        ngx_http_wxauth_refuse(r, ctx, ctx->error);
        return;
    }

    /* deleting the record ends the session on every node sharing this Redis */
    if (ngx_http_wxauth_redis_step(r, ctx,
                                   wxauth::logout_commands(ngx_http_wxauth_sv(ctx->storage_key)),
                                   ngx_http_wxauth_logout_done)
        != NGX_AGAIN)
    {
        ngx_http_wxauth_refuse(r, ctx, wxauth::Error::store_unavailable);
    }
}


static void
ngx_http_wxauth_logout_body(ngx_http_request_t *r)
{
    ngx_http_wxauth_ctx_t  *ctx;

    ctx = static_cast<ngx_http_wxauth_ctx_t *>(ngx_http_get_module_ctx(r, ngx_http_wxauth_module));

    try {
        ctx->no_renewal = 1;   /* a session about to end is not extended */

        if (ngx_http_wxauth_session_load(r, ctx, ngx_http_wxauth_logout_session) == NGX_DONE) {
            ngx_http_wxauth_logout_session(r);
        }

    } catch (...) {
        ngx_http_wxauth_refuse(r, ctx, wxauth::Error::internal_error);
    }
}


ngx_int_t
ngx_http_wxauth_logout_handler(ngx_http_request_t *r)
{
    return ngx_http_wxauth_start_body_handler(r, NGX_HTTP_POST|NGX_HTTP_DELETE, "POST, DELETE",
                                 ngx_http_wxauth_logout_body);
}

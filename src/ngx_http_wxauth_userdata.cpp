/*
 * Handlers that act for an authenticated caller: logout, the rawData signature check and the
 * decryption of encryptedData with the caller's newest session_key.
 *
 *   body read -> session lookup (or the access phase's) -> newest session_key -> answer
 */

#include "ngx_http_wxauth_module.h"
#include "ngx_http_wxauth_redis.h"
#include "ngx_http_wxauth_metrics.h"

#include "core/crypto.h"
#include "core/login_request.h"
#include "core/token.h"


#define NGX_HTTP_WXAUTH_MAX_USERDATA_BODY  32768


static void
ngx_http_wxauth_count_userdata(ngx_http_wxauth_loc_conf_t *wlcf, bool ok)
{
    switch (wlcf->handler) {
    case NGX_HTTP_WXAUTH_HANDLER_LOGOUT:
        ngx_http_wxauth_metric_inc(ok ? wxauth::Metric::logout_ok : wxauth::Metric::logout_failed);
        break;
    case NGX_HTTP_WXAUTH_HANDLER_SIGNATURE:
        ngx_http_wxauth_metric_inc(ok ? wxauth::Metric::signature_ok
                                      : wxauth::Metric::signature_failed);
        break;
    default:
        ngx_http_wxauth_metric_inc(ok ? wxauth::Metric::decrypt_ok
                                      : wxauth::Metric::decrypt_failed);
        break;
    }
}


void
ngx_http_wxauth_finish(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx, wxauth::Error err)
{
    ngx_int_t  rc;

    ctx->error = err;
    ctx->failed = 1;

    ngx_log_error(ngx_http_wxauth_log_level(err), r->connection->log, 0,
                  "wxauth: request refused: %s", wxauth::error_code(err));

    ngx_http_wxauth_count_userdata(static_cast<ngx_http_wxauth_loc_conf_t *>(
        ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module)), false);

    r->write_event_handler = ngx_http_request_empty_handler;

    rc = ngx_http_wxauth_send_error(r, err, 0, 0);
    ngx_http_finalize_request(r, rc);
}


static void
ngx_http_wxauth_answer(ngx_http_request_t *r, const std::string &body)
{
    ngx_int_t  rc;

    ngx_http_wxauth_count_userdata(static_cast<ngx_http_wxauth_loc_conf_t *>(
        ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module)), true);

    r->write_event_handler = ngx_http_request_empty_handler;

    rc = ngx_http_wxauth_send_json(r, NGX_HTTP_OK, body.data(), body.size());
    ngx_http_finalize_request(r, rc);
}


/* logout */

static void
ngx_http_wxauth_logout_done(void *data, ngx_uint_t outcome,
    const std::vector<wxauth::ReplyView> &replies)
{
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_http_wxauth_ctx_t  *ctx;

    r = static_cast<ngx_http_request_t *>(data);
    c = r->connection;
    ctx = static_cast<ngx_http_wxauth_ctx_t *>(ngx_http_get_module_ctx(r, ngx_http_wxauth_module));
    ctx->pending = NULL;

    try {
        if (outcome != NGX_HTTP_WXAUTH_REDIS_OK
            || replies[0].outcome != wxauth::ReplyOutcome::integer)
        {
            ngx_http_wxauth_finish(r, ctx, wxauth::Error::store_unavailable);

        } else if (replies[0].integer == 0) {
            ngx_http_wxauth_finish(r, ctx, wxauth::Error::session_expired);

        } else {
            ngx_log_error(NGX_LOG_INFO, c->log, 0, "wxauth: session ended by logout");
            ngx_http_wxauth_answer(r, "{\"logged_out\":true}");
        }

    } catch (...) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_wxauth_logout_body(ngx_http_request_t *r)
{
    ngx_str_t                    token;
    ngx_http_wxauth_ctx_t       *ctx;
    ngx_http_wxauth_loc_conf_t  *wlcf;

    ctx = static_cast<ngx_http_wxauth_ctx_t *>(ngx_http_get_module_ctx(r, ngx_http_wxauth_module));
    wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(
               ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module));

    if (ngx_http_wxauth_read_token(r, wlcf, &token) != NGX_OK) {
        ngx_http_wxauth_finish(r, ctx, wxauth::Error::internal_error);
        return;
    }

    if (token.len == 0) {
        ngx_http_wxauth_finish(r, ctx, wxauth::Error::missing_session);
        return;
    }

    try {
        if (!wxauth::token_well_formed(ngx_http_wxauth_sv(token))) {
            ngx_http_wxauth_finish(r, ctx, wxauth::Error::invalid_session);
            return;
        }

        /* deleting the record ends the session on every node sharing this Redis */
        std::vector<ngx_http_wxauth_redis_cmd_t> cmds{
            { "DEL", wxauth::session_storage_key(ngx_http_wxauth_sv(wlcf->redis_prefix),
                                                 ngx_http_wxauth_sv(token)) }
        };

        ctx->pending = ngx_http_wxauth_redis_send(wlcf->redis, wlcf->redis_timeout, cmds,
                                                  ngx_http_wxauth_logout_done, r);

    } catch (...) {
        ngx_http_wxauth_finish(r, ctx, wxauth::Error::internal_error);
        return;
    }

    if (ctx->pending == NULL) {
        ngx_http_wxauth_finish(r, ctx, wxauth::Error::store_unavailable);
        return;
    }

    ngx_http_wxauth_park(r);
}


/* signature check and decryption */

static void
ngx_http_wxauth_userdata_compute(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    ngx_http_wxauth_loc_conf_t *wlcf, std::string_view session_key)
{
    if (wlcf->handler == NGX_HTTP_WXAUTH_HANDLER_SIGNATURE) {
        if (!wxauth::verify_user_signature(ngx_http_wxauth_sv(ctx->input1), session_key,
                                           ngx_http_wxauth_sv(ctx->input2)))
        {
            ngx_http_wxauth_finish(r, ctx, wxauth::Error::signature_mismatch);
            return;
        }

        ngx_http_wxauth_answer(r, "{\"valid\":true}");
        return;
    }

    wxauth::DecryptResult res = wxauth::decrypt_user_data(
        ngx_http_wxauth_sv(ctx->input1), ngx_http_wxauth_sv(ctx->input2), session_key,
        ngx_http_wxauth_sv(ctx->appid), (std::int64_t) wlcf->watermark_max_age,
        (std::int64_t) ngx_time());

    switch (res.status) {
    case wxauth::DecryptStatus::ok:
        ngx_http_wxauth_answer(r, res.plaintext);
        return;
    case wxauth::DecryptStatus::bad_input:
        ngx_http_wxauth_finish(r, ctx, wxauth::Error::invalid_request);
        return;
    case wxauth::DecryptStatus::bad_padding:
    case wxauth::DecryptStatus::bad_json:
        ngx_http_wxauth_finish(r, ctx, wxauth::Error::decrypt_failed);
        return;
    default:
        ngx_http_wxauth_finish(r, ctx, wxauth::Error::watermark_mismatch);
        return;
    }
}


static void
ngx_http_wxauth_userdata_key_loaded(void *data, ngx_uint_t outcome,
    const std::vector<wxauth::ReplyView> &replies)
{
    ngx_connection_t            *c;
    ngx_http_request_t          *r;
    ngx_http_wxauth_ctx_t       *ctx;
    ngx_http_wxauth_loc_conf_t  *wlcf;

    r = static_cast<ngx_http_request_t *>(data);
    c = r->connection;
    ctx = static_cast<ngx_http_wxauth_ctx_t *>(ngx_http_get_module_ctx(r, ngx_http_wxauth_module));
    wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(
               ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module));
    ctx->pending = NULL;

    try {
        if (outcome != NGX_HTTP_WXAUTH_REDIS_OK
            || replies[0].outcome == wxauth::ReplyOutcome::error)
        {
            ngx_http_wxauth_finish(r, ctx, wxauth::Error::store_unavailable);

        } else if (replies[0].outcome == wxauth::ReplyOutcome::value) {
            /* WeChat rotated the key at a later login: the newest one is the valid one */
            ngx_http_wxauth_userdata_compute(r, ctx, wlcf, replies[0].text);

        } else {
            ngx_http_wxauth_userdata_compute(r, ctx, wlcf, ngx_http_wxauth_sv(ctx->session_key));
        }

    } catch (...) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_wxauth_userdata_session(ngx_http_request_t *r)
{
    ngx_http_wxauth_ctx_t       *ctx;
    ngx_http_wxauth_loc_conf_t  *wlcf;

    ctx = static_cast<ngx_http_wxauth_ctx_t *>(ngx_http_get_module_ctx(r, ngx_http_wxauth_module));
    wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(
               ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module));

    if (ctx->state != NGX_HTTP_WXAUTH_PASSED) {
        ngx_http_wxauth_finish(r, ctx, ctx->error);
        return;
    }

    try {
        std::vector<ngx_http_wxauth_redis_cmd_t> cmds{
            { "GET", wxauth::latest_key_storage_key(ngx_http_wxauth_sv(wlcf->redis_prefix),
                                                    ngx_http_wxauth_sv(ctx->appid),
                                                    ngx_http_wxauth_sv(ctx->openid)) }
        };

        ctx->pending = ngx_http_wxauth_redis_send(wlcf->redis, wlcf->redis_timeout, cmds,
                                                  ngx_http_wxauth_userdata_key_loaded, r);

    } catch (...) {
        ngx_http_wxauth_finish(r, ctx, wxauth::Error::internal_error);
        return;
    }

    if (ctx->pending == NULL) {
        ngx_http_wxauth_finish(r, ctx, wxauth::Error::store_unavailable);
        return;
    }

    ngx_http_wxauth_park(r);
}


/* the session lookup answered asynchronously */
static void
ngx_http_wxauth_userdata_session_async(ngx_http_request_t *r)
{
    ngx_connection_t  *c = r->connection;

    ngx_http_wxauth_userdata_session(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_wxauth_userdata_body(ngx_http_request_t *r)
{
    bool                         found1, found2;
    ngx_http_wxauth_ctx_t       *ctx;
    ngx_http_wxauth_loc_conf_t  *wlcf;

    ctx = static_cast<ngx_http_wxauth_ctx_t *>(ngx_http_get_module_ctx(r, ngx_http_wxauth_module));
    wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(
               ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module));

    try {
        std::string body, v1, v2;

        if (ngx_http_wxauth_request_body(r, NGX_HTTP_WXAUTH_MAX_USERDATA_BODY, body) != NGX_OK) {
            ngx_http_wxauth_finish(r, ctx, wxauth::Error::invalid_request);
            return;
        }

        const char *name1 = "encryptedData", *name2 = "iv";

        if (wlcf->handler == NGX_HTTP_WXAUTH_HANDLER_SIGNATURE) {
            name1 = "rawData";
            name2 = "signature";
        }

        if (!wxauth::json_string_field(body, name1, v1, found1)
            || !wxauth::json_string_field(body, name2, v2, found2)
            || !found1 || !found2 || v2.empty()
            || ngx_http_wxauth_copy_str(r->pool, &ctx->input1, v1.data(), v1.size()) != NGX_OK
            || ngx_http_wxauth_copy_str(r->pool, &ctx->input2, v2.data(), v2.size()) != NGX_OK)
        {
            ngx_http_wxauth_finish(r, ctx, wxauth::Error::invalid_request);
            return;
        }

    } catch (...) {
        ngx_http_wxauth_finish(r, ctx, wxauth::Error::internal_error);
        return;
    }

    if (ngx_http_wxauth_session_load(r, ctx, ngx_http_wxauth_userdata_session_async)
        == NGX_DONE)
    {
        ngx_http_wxauth_userdata_session(r);
    }
}


static ngx_int_t
ngx_http_wxauth_start(ngx_http_request_t *r, ngx_uint_t methods, const char *allow,
    ngx_http_client_body_handler_pt body_handler)
{
    if (!(r->method & methods)) {
        ngx_http_wxauth_count_userdata(static_cast<ngx_http_wxauth_loc_conf_t *>(
            ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module)), false);
        return ngx_http_wxauth_send_not_allowed(r, allow);
    }

    return ngx_http_wxauth_read_body(r, body_handler);
}


ngx_int_t
ngx_http_wxauth_logout_handler(ngx_http_request_t *r)
{
    return ngx_http_wxauth_start(r, NGX_HTTP_POST|NGX_HTTP_DELETE, "POST, DELETE",
                                 ngx_http_wxauth_logout_body);
}


ngx_int_t
ngx_http_wxauth_signature_handler(ngx_http_request_t *r)
{
    return ngx_http_wxauth_start(r, NGX_HTTP_POST, "POST", ngx_http_wxauth_userdata_body);
}


ngx_int_t
ngx_http_wxauth_decrypt_handler(ngx_http_request_t *r)
{
    return ngx_http_wxauth_start(r, NGX_HTTP_POST, "POST", ngx_http_wxauth_userdata_body);
}

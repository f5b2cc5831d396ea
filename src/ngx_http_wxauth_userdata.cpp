/*
 * Handlers that act with the caller's session_key: the rawData signature check and the
 * decryption of encryptedData, with the caller's newest session_key.
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


/* signature check and decryption */

static void
ngx_http_wxauth_userdata_compute(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    ngx_http_wxauth_loc_conf_t *wlcf, std::string_view session_key)
{
    if (wlcf->handler == NGX_HTTP_WXAUTH_HANDLER_SIGNATURE) {
        if (!wxauth::verify_user_signature(ngx_http_wxauth_sv(ctx->userdata.data), session_key,
                                           ngx_http_wxauth_sv(ctx->userdata.proof)))
        {
            ngx_http_wxauth_refuse(r, ctx, wxauth::Error::signature_mismatch);
            return;
        }

        ngx_http_wxauth_answer(r, "{\"valid\":true}", sizeof("{\"valid\":true}") - 1);
        return;
    }

    wxauth::DecryptResult res = wxauth::decrypt_user_data(
        ngx_http_wxauth_sv(ctx->userdata.data), ngx_http_wxauth_sv(ctx->userdata.proof), session_key,
        ngx_http_wxauth_sv(ctx->appid), (std::int64_t) wlcf->watermark_max_age,
        (std::int64_t) ngx_time());

    switch (res.status) {
    case wxauth::DecryptStatus::ok:
        ngx_http_wxauth_answer(r, res.plaintext.data(), res.plaintext.size());
        return;
    case wxauth::DecryptStatus::bad_input:
        ngx_http_wxauth_refuse(r, ctx, wxauth::Error::invalid_request);
        return;
    case wxauth::DecryptStatus::bad_padding:
    case wxauth::DecryptStatus::bad_json:
        ngx_http_wxauth_refuse(r, ctx, wxauth::Error::decrypt_failed);
        return;
    default:
        ngx_http_wxauth_refuse(r, ctx, wxauth::Error::watermark_mismatch);
        return;
    }
}


static void
ngx_http_wxauth_userdata_key_loaded(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    ngx_uint_t outcome, const std::vector<wxauth::ReplyView> &replies)
{
    ngx_http_wxauth_loc_conf_t  *wlcf;

    wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(
               ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module));

    if (outcome != NGX_HTTP_WXAUTH_REDIS_OK) {
        ngx_http_wxauth_refuse(r, ctx, wxauth::Error::store_unavailable);
        return;
    }

    /* WeChat rotates the key at a later login: the newest one is the valid one */
    wxauth::LatestKeyResult res = wxauth::latest_key_result(replies,
                                                            ngx_http_wxauth_sv(ctx->session_key));

    if (res.log) {
        ngx_http_wxauth_log_note(r, *res.log);
    }

    if (res.error) {
        ngx_http_wxauth_refuse(r, ctx, *res.error);
        return;
    }

    ngx_http_wxauth_userdata_compute(r, ctx, wlcf, res.session_key);
}


static void
ngx_http_wxauth_userdata_session(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_wxauth_ctx_t       *ctx;
    ngx_http_wxauth_loc_conf_t  *wlcf;

    ctx = static_cast<ngx_http_wxauth_ctx_t *>(ngx_http_get_module_ctx(r, ngx_http_wxauth_module));
    wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(
               ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module));

    if (ctx->state != NGX_HTTP_WXAUTH_PASSED) {
        ngx_http_wxauth_refuse(r, ctx, ctx->error);
        return;
    }

    try {
        rc = ngx_http_wxauth_redis_step(r, ctx,
                 wxauth::latest_key_commands(ngx_http_wxauth_sv(wlcf->redis_prefix),
                                             ngx_http_wxauth_sv(ctx->appid),
                                             ngx_http_wxauth_sv(ctx->openid)),
                 ngx_http_wxauth_userdata_key_loaded);

    } catch (...) {
        ngx_http_wxauth_refuse(r, ctx, wxauth::Error::internal_error);
        return;
    }

    if (rc != NGX_AGAIN) {
        ngx_http_wxauth_refuse(r, ctx, wxauth::Error::store_unavailable);
    }
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
            ngx_http_wxauth_refuse(r, ctx, wxauth::Error::invalid_request);
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
            || ngx_http_wxauth_copy_str(r->pool, &ctx->userdata.data, v1.data(), v1.size()) != NGX_OK
            || ngx_http_wxauth_copy_str(r->pool, &ctx->userdata.proof, v2.data(), v2.size()) != NGX_OK)
        {
            ngx_http_wxauth_refuse(r, ctx, wxauth::Error::invalid_request);
            return;
        }

    } catch (...) {
        ngx_http_wxauth_refuse(r, ctx, wxauth::Error::internal_error);
        return;
    }

    if (ngx_http_wxauth_session_load(r, ctx, ngx_http_wxauth_userdata_session) == NGX_DONE)
    {
        ngx_http_wxauth_userdata_session(r);
    }
}




ngx_int_t
ngx_http_wxauth_signature_handler(ngx_http_request_t *r)
{
    return ngx_http_wxauth_start_body_handler(r, NGX_HTTP_POST, "POST", ngx_http_wxauth_userdata_body);
}


ngx_int_t
ngx_http_wxauth_decrypt_handler(ngx_http_request_t *r)
{
    return ngx_http_wxauth_start_body_handler(r, NGX_HTTP_POST, "POST", ngx_http_wxauth_userdata_body);
}

/*
 * The session check: an access-phase handler that reads the caller's token, looks it up in
 * Redis without blocking, and either lets the request on with the identity in $wxauth_*
 * variables or answers with a JSON error.
 */

#include "ngx_http_wxauth_module.h"
#include "ngx_http_wxauth_redis.h"

#include "core/session.h"
#include "core/token.h"


static ngx_str_t  ngx_http_wxauth_default_header = ngx_string("X-WX-Session");


static ngx_int_t
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


static void
ngx_http_wxauth_session_looked_up(void *data, ngx_uint_t outcome,
    const std::vector<wxauth::ReplyView> &replies)
{
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_http_wxauth_ctx_t  *ctx;
    wxauth::SessionRecord   rec;

    r = static_cast<ngx_http_request_t *>(data);
    c = r->connection;
    ctx = static_cast<ngx_http_wxauth_ctx_t *>(ngx_http_get_module_ctx(r, ngx_http_wxauth_module));

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

    } else if (ngx_http_wxauth_copy_str(r->pool, &ctx->openid, rec.openid.data(),
                                        rec.openid.size()) != NGX_OK
               || ngx_http_wxauth_copy_str(r->pool, &ctx->unionid, rec.unionid.data(),
                                           rec.unionid.size()) != NGX_OK
               || ngx_http_wxauth_copy_str(r->pool, &ctx->appid, rec.appid.data(),
                                           rec.appid.size()) != NGX_OK)
    {
        ctx->error = wxauth::Error::internal_error;

    } else {
        ctx->state = NGX_HTTP_WXAUTH_PASSED;
    }

    /* go on with the phases where the access handler left them */

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_wxauth_reject(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx)
{
    ngx_int_t  rc;

    ngx_log_error(ngx_http_wxauth_error_log_level(ctx->error), r->connection->log, 0,
                  "wxauth: request refused: %s", wxauth::error_code(ctx->error));

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    rc = ngx_http_wxauth_send_error(r, ctx->error, 0, 0);

    /* the answer is sent: finish the request here, the phase engine must not go on */
    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


ngx_int_t
ngx_http_wxauth_access_handler(ngx_http_request_t *r)
{
    ngx_str_t                    token;
    ngx_http_wxauth_ctx_t       *ctx;
    ngx_http_wxauth_loc_conf_t  *wlcf;

    wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(
               ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module));

    if (!wlcf->enable || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = static_cast<ngx_http_wxauth_ctx_t *>(ngx_http_get_module_ctx(r, ngx_http_wxauth_module));

    if (ctx) {
        switch (ctx->state) {
        case NGX_HTTP_WXAUTH_WAITING:
            return NGX_AGAIN;
        case NGX_HTTP_WXAUTH_PASSED:
            return NGX_OK;
        case NGX_HTTP_WXAUTH_FAILED:
            return ngx_http_wxauth_reject(r, ctx);
        default:
            break;
        }
    }

    if (ngx_http_wxauth_read_token(r, wlcf, &token) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_http_wxauth_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (token.len == 0) {
        ctx->state = NGX_HTTP_WXAUTH_FAILED;
        ctx->error = wxauth::Error::missing_session;
        return ngx_http_wxauth_reject(r, ctx);
    }

    try {
        std::string_view tv(reinterpret_cast<const char *>(token.data), token.len);

        if (!wxauth::token_well_formed(tv)) {
            ctx->state = NGX_HTTP_WXAUTH_FAILED;
            ctx->error = wxauth::Error::invalid_session;
            return ngx_http_wxauth_reject(r, ctx);
        }

        std::vector<ngx_http_wxauth_redis_cmd_t> cmds{
            { "GET", wxauth::session_storage_key(
                         std::string_view(reinterpret_cast<const char *>(wlcf->redis_prefix.data),
                                          wlcf->redis_prefix.len), tv) }
        };

        ctx->pending = ngx_http_wxauth_redis_send(wlcf->redis, wlcf->redis_timeout, cmds,
                                                  ngx_http_wxauth_session_looked_up, r);

    } catch (...) {
        ctx->state = NGX_HTTP_WXAUTH_FAILED;
        ctx->error = wxauth::Error::internal_error;
        return ngx_http_wxauth_reject(r, ctx);
    }

    if (ctx->pending == NULL) {
        ctx->state = NGX_HTTP_WXAUTH_FAILED;
        ctx->error = wxauth::Error::store_unavailable;
        return ngx_http_wxauth_reject(r, ctx);
    }

    ctx->state = NGX_HTTP_WXAUTH_WAITING;

    /* notice a client that gives up while Redis answers */
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    return NGX_AGAIN;
}

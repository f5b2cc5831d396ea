/*
 * Refusals answered by nginx itself, in the module's JSON.
 *
 * The access phase follows nginx's contract (as auth_request does): `wxauth on` returns the
 * status of its refusal (401, 403, 503, 500) and lets nginx answer. That way `satisfy any`
 * can let an allowed address through, and an `error_page` for the status is used. Where no
 * error_page takes the request elsewhere, nginx produces its special response (an HTML page),
 * and the header and body filters below replace it with the module's JSON error.
 *
 * The same filters give the JSON error to what nginx refuses itself in a location of one of
 * the module's handlers (login, logout, signature check, decryption): a request body with
 * invalid chunked framing (400), over client_max_body_size (413), an internal error (500).
 *
 * A response is replaced only when it is nginx's own (r->err_status is set by the special
 * response handler, never by a proxied answer) and the request is still where the refusal
 * happened: after an internal redirect (an error_page URI or named location) the page the
 * operator wrote is sent as it is.
 */

#include "ngx_http_wxauth_module.h"
#include "ngx_http_wxauth_metrics.h"

#include "core/session_protocol.h"


static ngx_http_output_header_filter_pt  ngx_http_wxauth_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_wxauth_next_body_filter;


ngx_int_t
ngx_http_wxauth_refuse_in_access_phase(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    wxauth::Error err)
{
    ctx->state = NGX_HTTP_WXAUTH_FAILED;
    ctx->error = err;
    ctx->failed = 1;
    ctx->refusal.refused = 1;
    ctx->refusal.uri_changes = r->uri_changes;

    ngx_log_error(ngx_http_wxauth_log_level(err), r->connection->log, 0,
                  "wxauth: request refused: %s", wxauth::error_code(err));

    return wxauth::http_status(err);
}


/* The error of a response nginx produced in a location of one of the module's handlers. */
static bool
ngx_http_wxauth_handler_location_error(ngx_http_request_t *r, wxauth::Error *err)
{
    wxauth::Flow                 flow;
    ngx_http_wxauth_loc_conf_t  *wlcf;

    wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(
               ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module));

    if (!ngx_http_wxauth_handler_flow(wlcf->handler, &flow)) {
        return false;
    }

    switch (r->err_status) {
    case NGX_HTTP_BAD_REQUEST:
        *err = wxauth::Error::invalid_request;
        break;
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        *err = wxauth::Error::request_too_large;
        break;
    case NGX_HTTP_INTERNAL_SERVER_ERROR:
        /* logged and counted where it happened */
        *err = wxauth::Error::internal_error;
        return true;
    default:
        return false;
    }

    /* the request never reached the handler's own refusal: count and log it here */

    ngx_http_wxauth_metric_inc(wxauth::failure_metric(flow, *err));

    ngx_log_error(ngx_http_wxauth_log_level(*err), r->connection->log, 0,
                  flow == wxauth::Flow::login ? "wxauth: login refused: %s"
                                              : "wxauth: request refused: %s",
                  wxauth::error_code(*err));

    return true;
}


/*
 * Whether the request went on to the content phase: under `satisfy any` another access module
 * may let a refused request through, and an error nginx answers later (a forbidden directory
 * index, say) is not the module's refusal.
 */
static bool
ngx_http_wxauth_reached_content(ngx_http_request_t *r)
{
    ngx_uint_t                  i;
    ngx_http_phase_handler_t   *ph;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = static_cast<ngx_http_core_main_conf_t *>(
               ngx_http_get_module_main_conf(r, ngx_http_core_module));
    ph = cmcf->phase_engine.handlers;

    for (i = 0; ph[i].checker; i++) {
        if (ph[i].checker == ngx_http_core_content_phase) {
            return r->phase_handler >= (ngx_int_t) i;
        }
    }

    return false;
}


static ngx_int_t
ngx_http_wxauth_refusal_header_filter(ngx_http_request_t *r)
{
    wxauth::Error           err;
    ngx_http_wxauth_ctx_t  *ctx;

    if (r != r->main || r->err_status < NGX_HTTP_BAD_REQUEST) {
        return ngx_http_wxauth_next_header_filter(r);
    }

    /* the module context as it is: an internal redirect leaves none (or a recovered one) */
    ctx = static_cast<ngx_http_wxauth_ctx_t *>(ngx_http_get_module_ctx(r, ngx_http_wxauth_module));

    if (ctx != NULL && ctx->refusal.refused && ctx->refusal.uri_changes == r->uri_changes
        && (ngx_uint_t) wxauth::http_status(ctx->error) == r->err_status
        && !ngx_http_wxauth_reached_content(r))
    {
        err = ctx->error;

    } else if (ctx != NULL && ctx->refusal.refused) {
        return ngx_http_wxauth_next_header_filter(r);

    } else if (!ngx_http_wxauth_handler_location_error(r, &err)) {
        return ngx_http_wxauth_next_header_filter(r);
    }

    ctx = ngx_http_wxauth_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    try {
        std::string body = wxauth::error_json(err);

        if (ngx_http_wxauth_copy_str(r->pool, &ctx->refusal.body, body.data(), body.size())
            != NGX_OK)
        {
            return NGX_ERROR;
        }

    } catch (...) {
        return NGX_ERROR;
    }

    if (!ctx->failed) {
        ctx->error = err;
        ctx->failed = 1;
    }

    ctx->refusal.replace_body = 1;

    if (ngx_http_wxauth_set_json_headers(r, ctx->refusal.body.len) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_wxauth_next_header_filter(r);
}


static ngx_int_t
ngx_http_wxauth_refusal_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t              *b;
    ngx_chain_t             out;
    ngx_http_wxauth_ctx_t  *ctx;

    ctx = static_cast<ngx_http_wxauth_ctx_t *>(ngx_http_get_module_ctx(r, ngx_http_wxauth_module));

    if (ctx == NULL || !ctx->refusal.replace_body || r != r->main) {
        return ngx_http_wxauth_next_body_filter(r, in);
    }

    /* nginx's page is dropped: the JSON error goes out once, as the whole body */

    if (ctx->refusal.body_replaced) {
        return in ? NGX_OK : ngx_http_wxauth_next_body_filter(r, NULL);
    }

    ctx->refusal.body_replaced = 1;

    b = static_cast<ngx_buf_t *>(ngx_calloc_buf(r->pool));
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->refusal.body.data;
    b->last = ctx->refusal.body.data + ctx->refusal.body.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_wxauth_next_body_filter(r, &out);
}


ngx_int_t
ngx_http_wxauth_refusal_filter_init(ngx_conf_t *cf)
{
    ngx_http_wxauth_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_wxauth_refusal_header_filter;

    ngx_http_wxauth_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_wxauth_refusal_body_filter;

    return NGX_OK;
}

/*
 * The module's answers: JSON (and the metrics' text) with Cache-Control: no-store, the JSON
 * error of a refusal, 405 with Allow.
 */

#include "ngx_http_wxauth_module.h"
#include "ngx_http_wxauth_metrics.h"

#include <string>


static ngx_int_t
ngx_http_wxauth_add_header(ngx_http_request_t *r, const char *key, const char *value)
{
    ngx_table_elt_t  *h;

    h = static_cast<ngx_table_elt_t *>(ngx_list_push(&r->headers_out.headers));
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}


/*
 * The headers of every JSON (or metrics) answer of the module: Content-Type, its length, and
 * Cache-Control: no-store. The status is the caller's (or nginx's, for its own refusals).
 */
static ngx_int_t
ngx_http_wxauth_set_headers(ngx_http_request_t *r, const char *content_type, size_t len)
{
    size_t  type_len;

    r->headers_out.content_length_n = len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    r->headers_out.content_type.data = (u_char *) content_type;
    r->headers_out.content_type.len = ngx_strlen(content_type);
    r->headers_out.content_type_lowcase = NULL;

    /* the media type alone: with parameters, nginx's charset filter adds none */
    for (type_len = 0; type_len < r->headers_out.content_type.len; type_len++) {
        if (content_type[type_len] == ';' || content_type[type_len] == ' ') {
            break;
        }
    }

    r->headers_out.content_type_len = type_len;

    return ngx_http_wxauth_add_header(r, "Cache-Control", "no-store");
}


ngx_int_t
ngx_http_wxauth_set_json_headers(ngx_http_request_t *r, size_t len)
{
    return ngx_http_wxauth_set_headers(r, "application/json", len);
}


/*
 * The whole answer of a handler: status, Content-Type, Cache-Control: no-store, an Allow header
 * when allow is not NULL, and the body (none for HEAD).
 */
ngx_int_t
ngx_http_wxauth_send_response(ngx_http_request_t *r, ngx_uint_t status,
    const char *content_type, const char *allow, const char *data, size_t len)
{
    ngx_buf_t    *b;
    ngx_int_t     rc;
    ngx_chain_t   out;

    r->headers_out.status = status;

    if (ngx_http_wxauth_set_headers(r, content_type, len) != NGX_OK) {
        return NGX_ERROR;
    }

    if (allow && ngx_http_wxauth_add_header(r, "Allow", allow) != NGX_OK) {
        return NGX_ERROR;
    }

    if (r->method == NGX_HTTP_HEAD || len == 0) {
        r->header_only = 1;
        return ngx_http_send_header(r);
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->last, data, len);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_wxauth_send_json(ngx_http_request_t *r, ngx_uint_t status, const char *data,
    size_t len)
{
    return ngx_http_wxauth_send_response(r, status, "application/json", NULL, data, len);
}


ngx_int_t
ngx_http_wxauth_send_error(ngx_http_request_t *r, wxauth::Error err, ngx_int_t wx_errcode,
    ngx_flag_t has_wx_errcode)
{
    try {
        std::string body = has_wx_errcode ? wxauth::error_json(err, (long) wx_errcode)
                                          : wxauth::error_json(err);

        return ngx_http_wxauth_send_json(r, wxauth::http_status(err), body.data(), body.size());

    } catch (...) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/* 405 with the module's JSON error and the methods the location accepts */
ngx_int_t
ngx_http_wxauth_send_not_allowed(ngx_http_request_t *r, const char *allow)
{
    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    try {
        std::string body = wxauth::error_json(wxauth::Error::method_not_allowed);

        return ngx_http_wxauth_send_response(r, NGX_HTTP_NOT_ALLOWED, "application/json", allow,
                                             body.data(), body.size());

    } catch (...) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/* Counts the outcome of a handler location (login, logout, signature check, decryption). */
void
ngx_http_wxauth_count_outcome(ngx_http_request_t *r, const wxauth::Error *err)
{
    wxauth::Flow                 flow;
    ngx_http_wxauth_loc_conf_t  *wlcf;

    wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(
               ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module));

    if (ngx_http_wxauth_handler_flow(wlcf->handler, &flow)) {
        ngx_http_wxauth_metric_inc(err ? wxauth::failure_metric(flow, *err)
                                       : wxauth::success_metric(flow));
    }
}


/*
 * The one way a handler refuses its request once it has started: the error is remembered
 * ($wxauth_error), counted for the location's flow, logged at its level (with WeChat's errcode
 * when WeChat refused a login), answered as JSON, and the request is finalized.
 */
void
ngx_http_wxauth_refuse(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx, wxauth::Error err)
{
    ngx_int_t                    rc;
    const char                  *what;
    ngx_http_wxauth_loc_conf_t  *wlcf;

    wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(
               ngx_http_get_module_loc_conf(r, ngx_http_wxauth_module));

    ctx->error = err;
    ctx->failed = 1;

    ngx_http_wxauth_count_outcome(r, &err);

    what = (wlcf->handler == NGX_HTTP_WXAUTH_HANDLER_LOGIN) ? "login" : "request";

    if (ctx->login.has_wx_errcode) {
        ngx_log_error(ngx_http_wxauth_log_level(err), r->connection->log, 0,
                      "wxauth: %s refused: %s (WeChat errcode %i)",
                      what, wxauth::error_code(err), ctx->login.wx_errcode);
    } else {
        ngx_log_error(ngx_http_wxauth_log_level(err), r->connection->log, 0,
                      "wxauth: %s refused: %s", what, wxauth::error_code(err));
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    rc = ngx_http_wxauth_send_error(r, err, ctx->login.wx_errcode, ctx->login.has_wx_errcode);
    ngx_http_finalize_request(r, rc);
}


/* A handler's 200 answer: counted, sent, the request finalized. */
void
ngx_http_wxauth_answer(ngx_http_request_t *r, const char *body, size_t len)
{
    ngx_int_t  rc;

    ngx_http_wxauth_count_outcome(r, NULL);

    r->write_event_handler = ngx_http_request_empty_handler;

    rc = ngx_http_wxauth_send_json(r, NGX_HTTP_OK, body, len);
    ngx_http_finalize_request(r, rc);
}

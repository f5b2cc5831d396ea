/*
 * The `wxauth_metrics` location: the counters of every worker (ngx_http_wxauth_metrics.cpp),
 * in Prometheus text format.
 */

#include "ngx_http_wxauth_module.h"
#include "ngx_http_wxauth_metrics.h"
#include "ngx_http_wxauth_redis.h"

#include <string>


#define NGX_HTTP_WXAUTH_METRICS_CONTENT_TYPE  "text/plain; version=0.0.4; charset=utf-8"


ngx_int_t
ngx_http_wxauth_metrics_handler(ngx_http_request_t *r)
{
    uint64_t  values[wxauth::metric_slots];

    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
        return ngx_http_wxauth_send_not_allowed(r, "GET, HEAD");
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    try {
        if (!ngx_http_wxauth_metrics_snapshot(values)) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "wxauth: the shared zone \"wxauth_metrics\" is missing");
            return ngx_http_wxauth_send_error(r, wxauth::Error::internal_error, 0, 0);
        }

        std::string text = wxauth::render_prometheus(values);

        /* the Redis nodes, as this worker sees them */
        std::vector<wxauth::RedisNodeInfo>  nodes;
        ngx_http_wxauth_main_conf_t        *wmcf;

        wmcf = static_cast<ngx_http_wxauth_main_conf_t *>(
                   ngx_http_get_module_main_conf(r, ngx_http_wxauth_module));
        ngx_http_wxauth_redis_nodes(&wmcf->servers, nodes);
        text += wxauth::render_redis_nodes(nodes);

        return ngx_http_wxauth_send_response(r, NGX_HTTP_OK,
                                             NGX_HTTP_WXAUTH_METRICS_CONTENT_TYPE, NULL,
                                             text.data(), text.size());

    } catch (...) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "wxauth: rendering the metrics failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}

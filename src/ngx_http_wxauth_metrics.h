/*
 * Metrics: 64-bit counters in a shared memory zone, so that every worker adds to the same
 * numbers, served in Prometheus text format by the `wxauth_metrics` location handler.
 */

#ifndef NGX_HTTP_WXAUTH_METRICS_H_INCLUDED_
#define NGX_HTTP_WXAUTH_METRICS_H_INCLUDED_

#include "ngx_http_wxauth_module.h"

#include "core/metrics.h"


/* Adds the zone (called once from postconfiguration); survives reloads. */
ngx_int_t ngx_http_wxauth_metrics_init_zone(ngx_conf_t *cf);

/* Cheap, lock-free, safe before the zone exists (then a no-op). */
void ngx_http_wxauth_metric_inc(wxauth::Metric m);
void ngx_http_wxauth_metric_add(wxauth::Metric m, ngx_atomic_int_t delta);
void ngx_http_wxauth_metric_redis_latency(uint64_t micros);

/* Every counter's value (metric_slots of them); false when the zone is missing. */
bool ngx_http_wxauth_metrics_snapshot(uint64_t *values);

/* Content handler of `wxauth_metrics;` (ngx_http_wxauth_metrics_location.cpp): GET/HEAD. */
ngx_int_t ngx_http_wxauth_metrics_handler(ngx_http_request_t *r);


#endif /* NGX_HTTP_WXAUTH_METRICS_H_INCLUDED_ */
